//! Every float of fit.json, written so that it reads back: serde `with` helpers for one float,
//! an optional float ([`opt`]) and an optional interval ([`pair`]).
//!
//! JSON cannot hold NaN or ±∞ (serde_json writes them as `null`, which then fails to read
//! back as f64). Finite values are plain numbers, others the strings "NaN", "inf", "-inf";
//! reading also accepts `null` as NaN. The bottom of `fit`: the records of every stage, from
//! the input's seed noise to the report's sections, use it.

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Num(f64),
    Text(String),
    Null(()),
}

fn decode(r: Repr) -> Result<f64, String> {
    match r {
        Repr::Num(x) => Ok(x),
        Repr::Null(()) => Ok(f64::NAN),
        Repr::Text(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            o => Err(format!("expected a number, \"NaN\", \"inf\" or \"-inf\", got {o:?}")),
        },
    }
}

/// Serialises one float.
pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    if x.is_finite() {
        s.serialize_f64(*x)
    } else if x.is_nan() {
        s.serialize_str("NaN")
    } else if *x > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

/// Reads one float.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    decode(Repr::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// The same for optional pairs (intervals).
pub mod pair {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct W(#[serde(with = "super")] f64);

    /// Serialises an optional [lo, hi].
    pub fn serialize<S: Serializer>(x: &Option<[f64; 2]>, s: S) -> Result<S::Ok, S::Error> {
        x.map(|[a, b]| [W(a), W(b)]).serialize(s)
    }

    /// Reads an optional [lo, hi].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f64; 2]>, D::Error> {
        let v: Option<[super::Repr; 2]> = Option::deserialize(d)?;
        match v {
            None => Ok(None),
            Some([a, b]) => Ok(Some([
                super::decode(a).map_err(serde::de::Error::custom)?,
                super::decode(b).map_err(serde::de::Error::custom)?,
            ])),
        }
    }
}

/// The same for optional floats.
pub mod opt {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    struct W(#[serde(with = "super")] f64);

    /// Serialises an optional float.
    pub fn serialize<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        x.map(W).serialize(s)
    }

    /// Reads an optional float (`null` is None).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let v: Option<super::Repr> = Option::deserialize(d)?;
        v.map(|r| super::decode(r).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct T {
        #[serde(with = "crate::fit::lossless")]
        x: f64,
        #[serde(with = "crate::fit::lossless::pair")]
        ci: Option<[f64; 2]>,
        #[serde(with = "crate::fit::lossless::opt")]
        o: Option<f64>,
    }

    // Regression (found by the report work): a NaN bootstrap bound was written as `null` and
    // fit.json could not be read back, breaking `predict` and `report`.
    #[test]
    fn non_finite_floats_round_trip() {
        let t = T { x: f64::NAN, ci: Some([1.5, f64::INFINITY]), o: Some(f64::NEG_INFINITY) };
        let s = serde_json::to_string(&t).unwrap();
        assert_eq!(s, r#"{"x":"NaN","ci":[1.5,"inf"],"o":"-inf"}"#);
        let back: T = serde_json::from_str(&s).unwrap();
        assert!(
            back.x.is_nan() && back.ci == Some([1.5, f64::INFINITY]) && back.o == Some(f64::NEG_INFINITY)
        );
        let old: T = serde_json::from_str(r#"{"x":null,"ci":[5.7,null],"o":null}"#).unwrap();
        assert!(old.x.is_nan() && old.ci.unwrap()[1].is_nan() && old.o.is_none());
    }
}
