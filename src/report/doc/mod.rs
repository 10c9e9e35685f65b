//! The report as a list of blocks, rendered once to Markdown (report.md, figures linked) and
//! once to a self-contained HTML page (report.html, figures inline as SVG), so both say the
//! same thing with the same numbers. The blocks are assembled in reading order by [`content`]
//! from the fitted-parameter tables ([`tables`]), the sweep summary and validity checklist
//! ([`sections`]) and a `[tune]`'s learning-rate law ([`hyper`]).

pub mod content;
pub mod hyper;
pub mod sections;
pub mod tables;

use std::fmt::Write;

/// One block of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading, level 1–3.
    Heading(u8, String),
    /// A paragraph of plain text.
    Para(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A checklist: (passed, text); `None` = information only.
    Checklist(Vec<(Option<bool>, String)>),
    /// A table: header and rows of plain-text cells.
    Table(Vec<String>, Vec<Vec<String>>),
    /// A figure: file stem (NAME.svg, NAME.png), caption, and the SVG document.
    Figure {
        /// File stem.
        name: String,
        /// Caption.
        caption: String,
        /// The SVG markup (inlined in HTML).
        svg: String,
    },
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Markdown: figures as `![caption](NAME.svg)` with a link to the PNG.
pub fn to_markdown(blocks: &[Block]) -> String {
    let mut out = String::new();
    for b in blocks {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "{} {text}\n", "#".repeat(usize::from(*level).clamp(1, 6)));
            }
            Block::Para(t) => {
                let _ = writeln!(out, "{t}\n");
            }
            Block::List(items) => {
                for i in items {
                    let _ = writeln!(out, "- {i}");
                }
                out.push('\n');
            }
            Block::Checklist(items) => {
                for (ok, text) in items {
                    let mark = match ok {
                        Some(true) => "[x] ",
                        Some(false) => "[ ] **check:** ",
                        None => "",
                    };
                    let _ = writeln!(out, "- {mark}{text}");
                }
                out.push('\n');
            }
            Block::Table(head, rows) => {
                let _ =
                    writeln!(out, "| {} |", head.iter().map(|h| md_cell(h)).collect::<Vec<_>>().join(" | "));
                let _ = writeln!(out, "|{}|", vec!["---"; head.len()].join("|"));
                for r in rows {
                    let _ =
                        writeln!(out, "| {} |", r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | "));
                }
                out.push('\n');
            }
            Block::Figure { name, caption, .. } => {
                let _ = writeln!(
                    out,
                    "![{}](plots/{name}.svg)\n\n{caption} ([PNG](plots/{name}.png))\n",
                    md_cell(name)
                );
            }
        }
    }
    out
}

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

/// Strips the XML declaration so the SVG can sit inside HTML, and makes it scale to the page.
fn inline_svg(svg: &str) -> String {
    let body = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    };
    body.replacen("<svg ", "<svg class=\"fig\" preserveAspectRatio=\"xMidYMid meet\" ", 1)
}

const CSS: &str = "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1440px;margin:0 auto;\
padding:16px 24px;color:#1a1a1a;line-height:1.45}h1{font-size:26px}h2{font-size:21px;border-bottom:1px solid #ccc;\
padding-bottom:4px;margin-top:32px}h3{font-size:17px}table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}\
figure{margin:16px 0 28px}svg.fig{max-width:100%;height:auto;border:1px solid #e3e3e3}figcaption{font-size:14px;\
color:#333;margin-top:4px}li.bad{color:#a40000}li.ok::marker{content:'✓ '}li.bad::marker{content:'✗ '}";

/// A standalone HTML page: inline CSS and SVG, no scripts, no external resources.
pub fn to_html(title: &str, blocks: &[Block]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{CSS}</style></head><body>\n",
        escape(title)
    );
    for b in blocks {
        match b {
            Block::Heading(level, text) => {
                let l = level.clamp(&1, &6);
                let _ = writeln!(out, "<h{l}>{}</h{l}>", escape(text));
            }
            Block::Para(t) => {
                let _ = writeln!(out, "<p>{}</p>", escape(t));
            }
            Block::List(items) => {
                out.push_str("<ul>");
                for i in items {
                    let _ = write!(out, "<li>{}</li>", escape(i));
                }
                out.push_str("</ul>\n");
            }
            Block::Checklist(items) => {
                out.push_str("<ul>");
                for (ok, text) in items {
                    let class = match ok {
                        Some(true) => " class=\"ok\"",
                        Some(false) => " class=\"bad\"",
                        None => "",
                    };
                    let _ = write!(out, "<li{class}>{}</li>", escape(text));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(head, rows) => {
                out.push_str("<table><tr>");
                for h in head {
                    let _ = write!(out, "<th>{}</th>", escape(h));
                }
                out.push_str("</tr>");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        let _ = write!(out, "<td>{}</td>", escape(c));
                    }
                    out.push_str("</tr>");
                }
                out.push_str("</table>\n");
            }
            Block::Figure { name, caption, svg } => {
                let _ = writeln!(
                    out,
                    "<figure id=\"{}\">{}<figcaption>{}</figcaption></figure>",
                    escape(name),
                    inline_svg(svg),
                    escape(caption)
                );
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_html_render_the_same_blocks() {
        let blocks = vec![
            Block::Heading(2, "Fit".into()),
            Block::Table(vec!["a|b".into(), "c".into()], vec![vec!["1 < 2".into(), "x".into()]]),
            Block::Checklist(vec![(Some(false), "edge".into()), (Some(true), "fine".into())]),
            Block::Figure {
                name: "f".into(),
                caption: "cap".into(),
                svg: "<?xml version=\"1.0\"?>\n<svg width=\"2\"></svg>".into(),
            },
        ];
        let md = to_markdown(&blocks);
        assert!(
            md.contains("## Fit") && md.contains("| a\\|b | c |") && md.contains("- [ ] **check:** edge")
        );
        assert!(md.contains("![f](plots/f.svg)"));
        let html = to_html("t", &blocks);
        assert!(html.contains("<td>1 &lt; 2</td>") && html.contains("<svg class=\"fig\""));
        assert!(!html.contains("<?xml") && !html.contains("<script") && !html.contains("http"));
    }
}
