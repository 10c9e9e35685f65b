//! Tests of the synthetic generator: determinism, token classes, the per-token bookkeeping
//! against the exact entropy rate, the windowed estimate, the opt-in Markov and key sentences,
//! config validation, and count models staying above the floor.

use super::entropy::FLOOR_STREAM_SEED;
use super::ngram::ngram_cross_entropy;
use super::vocabulary::{TokenKind, BOS};
use super::{SyntheticConfig, SyntheticCorpus};

fn world() -> SyntheticCorpus {
    SyntheticCorpus::new(&SyntheticConfig::default(), 7).expect("default config is valid")
}

#[test]
fn deterministic_and_in_range() {
    let c = world();
    let a = c.generate(1, 50_000);
    assert_eq!(a.len(), 50_000);
    assert_eq!(a, c.generate(1, 50_000));
    assert_eq!(a, c.generate_with_logprobs(1, 50_000).0);
    assert_eq!(&a[..1000], &c.generate(1, 1000)[..]);
    assert_ne!(a, c.generate(2, 50_000));
    let other = SyntheticCorpus::new(&SyntheticConfig::default(), 8).expect("valid");
    assert_ne!(a, other.generate(1, 50_000));
    assert!(a.iter().all(|&x| (x as usize) < c.vocab_size()));
    assert_eq!(a[0], BOS);
    assert!(c.generate(1, 0).is_empty());
    // Every class of token occurs.
    let mut seen = std::collections::HashSet::new();
    for &x in &a {
        seen.insert(c.token_kind(x).expect("in range"));
    }
    assert_eq!(seen.len(), 16, "kinds seen: {seen:?}");
}

#[test]
fn logprobs_are_finite_and_deterministic_tokens_are_free() {
    let c = world();
    let (toks, nll) = c.generate_with_logprobs(3, 200_000);
    assert_eq!(nll.len(), toks.len());
    assert!(nll.iter().all(|x| x.is_finite() && *x >= -1e-12));
    for (i, (&t, &l)) in toks.iter().zip(&nll).enumerate() {
        let k = c.token_kind(t).expect("in range");
        // Attributes are determined by (subject, relation); verb forms by agreement.
        if k == TokenKind::Attribute {
            assert!(l.abs() < 1e-12, "attribute at {i} has nll {l}");
        }
        if k == TokenKind::Topic {
            assert_eq!(toks[i - 1], BOS);
        }
    }
}

#[test]
fn facts_are_consistent_and_agreement_holds() {
    let c = world();
    let toks = c.generate(4, 300_000);
    let mut table = std::collections::HashMap::new();
    let mut subject = None;
    for w in toks.windows(2) {
        let k0 = c.token_kind(w[0]).expect("in range");
        if k0 == TokenKind::FirstName {
            subject = Some(w[0] * 10_000 + w[1]);
        }
        if k0 == TokenKind::Relation {
            let key = (subject.expect("relation after a name"), w[0]);
            let prev = table.insert(key, w[1]);
            assert!(prev.is_none() || prev == Some(w[1]), "fact changed");
        }
    }
    assert!(table.len() > 5_000, "only {} distinct facts seen", table.len());
    // Verb form agrees with the subject head: the first determiner or name of the sentence.
    let mut head: Option<bool> = None; // Some(plural)
    let mut checked = 0;
    for &x in &toks {
        match c.token_kind(x).expect("in range") {
            TokenKind::Period | TokenKind::Bos | TokenKind::Copy => head = None,
            TokenKind::FirstName if head.is_none() => head = Some(false),
            TokenKind::DetSingular if head.is_none() => head = Some(false),
            TokenKind::DetPlural if head.is_none() => head = Some(true),
            TokenKind::VerbSingular => {
                assert_eq!(head, Some(false));
                checked += 1;
            }
            TokenKind::VerbPlural => {
                assert_eq!(head, Some(true));
                checked += 1;
            }
            _ => {}
        }
    }
    assert!(checked > 5_000);
}

#[test]
fn floor_matches_exact_entropy_rate() {
    let c = world();
    let exact = c.entropy_rate();
    let n = 2_000_000;
    let (_, nll) = c.generate_with_logprobs(11, n);
    // Standard error from batch means (batches of 20k tokens span hundreds of documents).
    let b = 20_000;
    let means: Vec<f64> = nll.chunks(b).map(|x| x.iter().sum::<f64>() / b as f64).collect();
    let m = means.iter().sum::<f64>() / means.len() as f64;
    let var = means.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (means.len() - 1) as f64;
    let se = (var / means.len() as f64).sqrt();
    assert!((m - exact).abs() < 4.0 * se + 1e-3, "empirical {m} vs exact {exact} (se {se})");
    let floor = c.entropy_floor(500_000);
    assert!((floor - exact).abs() < 0.03, "floor {floor} vs exact {exact}");
    assert!(exact > 1.0 && exact < 4.0, "exact {exact}");
}

#[test]
fn windowed_floor_is_above_the_floor_and_falls_with_context() {
    let c = world();
    let n = 50_000;
    let (_, nll) = c.generate_with_logprobs(FLOOR_STREAM_SEED ^ 1, n);
    let full = nll.iter().sum::<f64>() / n as f64;
    let w: Vec<f64> = [16, 64, 128].iter().map(|&b| c.windowed_entropy(n, b)).collect();
    assert!(w[0] > w[1] && w[1] > w[2] && w[2] > full, "{w:?} vs {full}");
    assert!(w[0] - full > 0.02, "topic inference should cost something: {w:?} vs {full}");
    assert!(w[1] - full < 0.1, "documents are short, the window costs little: {w:?}");
    // Averaged over a very long window, almost every position sees its topic marker.
    let long = c.windowed_entropy(n, 100_000);
    assert!(long > full && long - full < 1e-3, "{long} vs {full}");
}

#[test]
fn exact_rate_tracks_config_changes() {
    // A different configuration (no copies, short documents, other exponents) still agrees.
    let cfg = SyntheticConfig {
        vocab_size: 300,
        n_topics: 5,
        n_first_names: 20,
        n_last_names: 10,
        n_subjects: 150,
        n_attribute_tokens: 30,
        values_per_relation: 5,
        p_copy: 0.0,
        p_fact: 0.2,
        mean_sentences: 1.5,
        max_adjectives: 0,
        max_facts_per_sentence: 1,
        p_name_subject: 1.0,
        ..SyntheticConfig::default()
    };
    let c = SyntheticCorpus::new(&cfg, 1).expect("valid");
    let exact = c.entropy_rate();
    let est = c.entropy_floor(1_000_000);
    assert!((est - exact).abs() < 0.02, "estimate {est} vs exact {exact}");
}

/// A world with Markov and key sentences (and a little of everything else).
fn additive_world() -> SyntheticCorpus {
    let cfg = SyntheticConfig {
        vocab_size: 600,
        n_first_names: 16,
        n_last_names: 16,
        n_subjects: 64,
        n_relations: 8,
        n_attribute_tokens: 16,
        values_per_relation: 8,
        p_fact: 0.1,
        p_prose: 0.2,
        p_copy: 0.1,
        p_markov: 0.4,
        markov_states: 32,
        markov_rank: 24,
        markov_successors: 4,
        p_keys: 0.3,
        n_keys: 200,
        n_key_values: 8,
        ..SyntheticConfig::default()
    };
    SyntheticCorpus::new(&cfg, 3).expect("valid")
}

#[test]
fn new_kinds_are_off_by_default_and_leave_ids_unchanged() {
    // Defaults are not serialized, so corpus ids (and run ids) of existing configs are those
    // of the generator before Markov and key sentences existed.
    let json = serde_json::to_string(&SyntheticConfig::default()).expect("serializes");
    for k in ["markov", "keys", "key_"] {
        assert!(!json.contains(k), "{k} in {json}");
    }
    let c = world();
    assert!(c.markov.is_none() && c.key_values.is_empty());
    let kinds: std::collections::HashSet<_> =
        c.generate(1, 50_000).iter().map(|&x| c.token_kind(x).expect("in range")).collect();
    assert!(!kinds.contains(&TokenKind::MarkovState) && !kinds.contains(&TokenKind::Key));
    // A non-default value is serialized and round-trips.
    let cfg = SyntheticConfig { p_keys: 0.5, n_keys: 10, n_key_values: 2, ..SyntheticConfig::default() };
    let json = serde_json::to_string(&cfg).expect("serializes");
    assert!(json.contains("\"p_keys\":0.5") && !json.contains("markov"), "{json}");
    assert_eq!(serde_json::from_str::<SyntheticConfig>(&json).expect("parses"), cfg);
}

#[test]
fn markov_and_key_sentences_floor_and_structure() {
    let c = additive_world();
    let (toks, nll) = c.generate_with_logprobs(5, 2_000_000);
    let mut kinds = std::collections::HashSet::new();
    let mut value_of = std::collections::HashMap::new();
    for i in 1..toks.len() {
        let (k0, k1) = (c.token_kind(toks[i - 1]).expect("in range"), c.token_kind(toks[i]).expect("ok"));
        kinds.insert(k1);
        // A value follows every key, is fixed per key, and costs nothing.
        assert_eq!(k0 == TokenKind::Key, k1 == TokenKind::KeyValue, "at {i}");
        if k1 == TokenKind::KeyValue {
            assert_eq!(*value_of.entry(toks[i - 1]).or_insert(toks[i]), toks[i]);
            assert!(nll[i].abs() < 1e-12);
        }
        if k1 == TokenKind::MarkovState {
            assert!(
                matches!(k0, TokenKind::MarkovState | TokenKind::Period | TokenKind::Topic) || nll[i] == 0.0
            );
        }
    }
    assert_eq!(kinds.len(), 19, "kinds seen: {kinds:?}");
    assert!(value_of.len() > 150, "{} keys seen", value_of.len());
    // The exact rate agrees with the Monte-Carlo mean (batch-means standard error).
    let exact = c.entropy_rate();
    let b = 20_000;
    let means: Vec<f64> = nll.chunks(b).map(|x| x.iter().sum::<f64>() / b as f64).collect();
    let m = means.iter().sum::<f64>() / means.len() as f64;
    let var = means.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (means.len() - 1) as f64;
    let se = (var / means.len() as f64).sqrt();
    assert!((m - exact).abs() < 4.0 * se + 1e-3, "empirical {m} vs exact {exact} (se {se})");
    // Markov only, keys only: still exact.
    for (pm, pk, succ) in [(1.0, 0.0, 0), (1.0, 0.0, 6), (0.0, 1.0, 0)] {
        let cfg = SyntheticConfig {
            p_fact: 0.0,
            p_prose: 0.0,
            p_markov: pm,
            p_keys: pk,
            markov_successors: succ,
            ..c.config().clone()
        };
        let c = SyntheticCorpus::new(&cfg, 4).expect("valid");
        let (exact, est) = (c.entropy_rate(), c.entropy_floor(1_000_000));
        assert!((est - exact).abs() < 0.02, "p_markov {pm}: estimate {est} vs exact {exact}");
    }
    // Windowed estimate still works (the new tokens carry no topic evidence).
    let w = c.windowed_entropy(50_000, 64);
    assert!(w.is_finite() && w > 0.0);
}

#[test]
fn invalid_configs_are_rejected_with_the_key() {
    let bad = |f: &dyn Fn(&mut SyntheticConfig), needle: &str| {
        let mut cfg = SyntheticConfig::default();
        f(&mut cfg);
        let err = SyntheticCorpus::new(&cfg, 0).expect_err("should be rejected");
        assert!(err.contains(needle), "{err}");
    };
    bad(&|c| c.vocab_size = 200, "corpus.synthetic.vocab_size");
    bad(&|c| c.n_subjects = 10_000, "corpus.synthetic.n_subjects");
    bad(&|c| c.n_topics = 0, "corpus.synthetic.n_topics");
    bad(&|c| c.p_object = 1.5, "corpus.synthetic.p_object");
    bad(&|c| c.word_zipf = f64::NAN, "corpus.synthetic.word_zipf");
    bad(&|c| c.mean_sentences = 0.5, "corpus.synthetic.mean_sentences");
    bad(&|c| c.values_per_relation = 500, "values_per_relation");
    bad(&|c| c.p_markov = 1.0, "corpus.synthetic.markov_states");
    bad(&|c| c.p_keys = 1.0, "corpus.synthetic.n_keys");
    bad(&|c| c.markov_continue = 1.0, "corpus.synthetic.markov_continue");
    bad(
        &|c| {
            c.p_fact = 0.0;
            c.p_prose = 0.0
        },
        "corpus.synthetic.p_fact",
    );
    // Serde: defaults fill missing keys, unknown keys are rejected.
    let cfg: SyntheticConfig =
        serde_json::from_str(r#"{"vocab_size": 1024}"#).expect("partial config parses");
    assert_eq!(cfg.vocab_size, 1024);
    assert_eq!(cfg.n_topics, SyntheticConfig::default().n_topics);
    assert!(serde_json::from_str::<SyntheticConfig>(r#"{"vocab": 3}"#).is_err());
    // Larger and smaller vocabularies work.
    for v in [400, 2048] {
        let cfg = SyntheticConfig { vocab_size: v, ..SyntheticConfig::default() };
        let c = SyntheticCorpus::new(&cfg, 0).expect("valid");
        assert!(c.generate(0, 10_000).iter().all(|&x| (x as usize) < v));
    }
}

#[test]
fn count_models_show_structure_and_stay_above_floor() {
    let c = world();
    let floor = c.entropy_rate();
    let v = c.vocab_size();
    let held = c.generate(1_000_001, 200_000);
    let train = c.generate(1_000_002, 4_000_000);
    let ce = |n: usize, order: usize| ngram_cross_entropy(&train[..n], &held, order, v).expect("valid input");
    let uni = ce(4_000_000, 1);
    let bi = ce(4_000_000, 2);
    let tri = ce(4_000_000, 3);
    assert!(bi < uni - 0.3, "bigram {bi} vs unigram {uni}");
    assert!(tri < bi, "trigram {tri} vs bigram {bi}");
    assert!(tri > floor + 0.2, "trigram {tri} vs floor {floor}");
    let curve: Vec<f64> = [40_000, 400_000, 4_000_000].iter().map(|&n| ce(n, 3)).collect();
    assert!(curve[0] > curve[1] && curve[1] > curve[2], "{curve:?}");
    // Diminishing returns: each decade helps less.
    assert!(curve[0] - curve[1] > curve[1] - curve[2], "{curve:?}");
    assert!(ngram_cross_entropy(&train, &held, 4, v).is_err());
    assert!(ngram_cross_entropy(&[9_999], &held, 1, v).is_err());
}
