//! What a file of a bucket becomes before it is chunked: sections of text, each with the
//! metadata search results carry as `loader_metadata`.
//!
//! The type comes from the file name's extension, else its content type, else its bytes (a file
//! of no known type that starts with `%PDF-` is read as PDF):
//!
//! | type | sections |
//! |---|---|
//! | text (`.txt`, `.text`, `.log`, unknown UTF-8) | the whole text |
//! | Markdown (`.md`, `.markdown`) | the whole text, as written |
//! | HTML (`.html`, `.htm`) | the visible text ([`super::html`]); `title` in metadata |
//! | CSV (`.csv`) | one section per record, as `column: value` lines |
//! | JSON (`.json`, `.jsonl`) | one section per element of the top-level array (or of the only array of a top-level object), else the whole document |
//! | DOCX | the paragraphs of `word/document.xml` (the server unzips; [`docx_text`]) |
//! | PDF (`.pdf`, `application/pdf`, `%PDF-`) | the text of its pages, a page break as a paragraph break ([`super::pdf`]) |
//! | other binary files | not read: the file fails with a reason |
//!
//! The `intercom` loader reads Intercom article JSON (`[{title, url, body}]`, or the same under
//! `articles` or `data`): one section per paragraph of an article's HTML body, with
//! `article_url` and `heading` (the article's title) in metadata.

use super::Loader;
use super::{html, pdf};
use serde_json::{json, Map, Value};

/// The type of a file, as far as loading goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Plain text.
    Text,
    /// Markdown.
    Markdown,
    /// HTML.
    Html,
    /// Comma-separated values with a header row.
    Csv,
    /// JSON.
    Json,
    /// A Word document (Office Open XML).
    Docx,
    /// PDF.
    Pdf,
    /// Something else: read as text when it is UTF-8 without NUL bytes.
    Unknown,
}

/// A piece of a document that is chunked on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Its text.
    pub text: String,
    /// What search results report as `loader_metadata`.
    pub metadata: Map<String, Value>,
}

impl Section {
    fn plain(text: String) -> Self {
        Self {
            text,
            metadata: Map::new(),
        }
    }
}

/// The type of `filename` (by extension), else of `content_type`.
pub fn detect(filename: &str, content_type: Option<&str>) -> DocumentKind {
    let base = filename.split(['?', '#']).next().unwrap_or(filename);
    let extension = base
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    let by_extension = match extension.as_deref() {
        Some("txt" | "text" | "log") => Some(DocumentKind::Text),
        Some("md" | "markdown") => Some(DocumentKind::Markdown),
        Some("html" | "htm" | "xhtml") => Some(DocumentKind::Html),
        Some("csv") => Some(DocumentKind::Csv),
        Some("json" | "jsonl") => Some(DocumentKind::Json),
        Some("docx") => Some(DocumentKind::Docx),
        Some("pdf") => Some(DocumentKind::Pdf),
        _ => None,
    };
    if let Some(kind) = by_extension {
        return kind;
    }
    let mime = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/html" | "application/xhtml+xml" => DocumentKind::Html,
        "text/markdown" => DocumentKind::Markdown,
        "text/csv" => DocumentKind::Csv,
        "application/json" => DocumentKind::Json,
        "application/pdf" => DocumentKind::Pdf,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
            DocumentKind::Docx
        }
        m if m.starts_with("text/") => DocumentKind::Text,
        _ => DocumentKind::Unknown,
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "the file is not UTF-8 text (unsupported file type)".to_owned())?;
    if text.contains('\0') {
        return Err("the file contains NUL bytes (unsupported file type)".to_owned());
    }
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Reads a file of type `kind` with `loader`. DOCX files come here as the text of their
/// `word/document.xml` ([`docx_text`] is applied); PDF files as they are. A file that cannot be
/// read gives the reason.
pub fn load(kind: DocumentKind, loader: Loader, bytes: &[u8]) -> Result<Vec<Section>, String> {
    if loader == Loader::Intercom {
        let value: Value = serde_json::from_str(utf8(bytes)?)
            .map_err(|e| format!("the intercom loader needs JSON: {e}"))?;
        return Ok(intercom(&value));
    }
    let kind = match kind {
        DocumentKind::Unknown if bytes.starts_with(pdf::MAGIC) => DocumentKind::Pdf,
        kind => kind,
    };
    let sections = match kind {
        DocumentKind::Text | DocumentKind::Markdown | DocumentKind::Unknown => {
            vec![Section::plain(utf8(bytes)?.to_owned())]
        }
        DocumentKind::Html => {
            let page = html::parse(utf8(bytes)?);
            let mut section = Section::plain(page.text);
            if let Some(title) = page.title {
                section.metadata.insert("title".into(), json!(title));
            }
            vec![section]
        }
        DocumentKind::Csv => csv_records(utf8(bytes)?)
            .into_iter()
            .map(Section::plain)
            .collect(),
        DocumentKind::Json => {
            let text = utf8(bytes)?;
            match serde_json::from_str::<Value>(text) {
                Ok(value) => json_records(&value)
                    .into_iter()
                    .map(Section::plain)
                    .collect(),
                // JSON Lines: one record per line.
                Err(_)
                    if text.lines().all(|l| {
                        l.trim().is_empty() || serde_json::from_str::<Value>(l).is_ok()
                    }) =>
                {
                    text.lines()
                        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                        .map(|v| Section::plain(render_record(&v)))
                        .collect()
                }
                Err(e) => return Err(format!("the file is not valid JSON: {e}")),
            }
        }
        DocumentKind::Docx => vec![Section::plain(docx_text(utf8(bytes)?))],
        DocumentKind::Pdf => {
            let pages: Vec<String> = pdf::pages(bytes)?
                .into_iter()
                .filter(|page| !page.is_empty())
                .collect();
            vec![Section::plain(pages.join("\n\n"))]
        }
    };
    Ok(sections
        .into_iter()
        .filter(|s| !s.text.trim().is_empty())
        .collect())
}

/// The records of a CSV document (header row first) as `column: value` lines.
pub fn csv_records(text: &str) -> Vec<String> {
    let rows = parse_csv(text);
    let Some((header, records)) = rows.split_first() else {
        return Vec::new();
    };
    records
        .iter()
        .filter(|r| r.iter().any(|f| !f.trim().is_empty()))
        .map(|record| {
            record
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(i, value)| match header.get(i).filter(|h| !h.is_empty()) {
                    Some(name) => format!("{}: {}", name.trim(), value.trim()),
                    None => value.trim().to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// RFC 4180 fields: commas, double quotes (doubled inside quotes), line breaks in quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The records of a JSON document: the elements of the top-level array, or of the only array
/// of a top-level object; else the whole document.
pub fn json_records(value: &Value) -> Vec<String> {
    let items = match value {
        Value::Array(items) => Some(items),
        Value::Object(object) => {
            let arrays: Vec<&Vec<Value>> = object.values().filter_map(Value::as_array).collect();
            match arrays.as_slice() {
                [only] => Some(*only),
                _ => None,
            }
        }
        _ => None,
    };
    match items {
        Some(items) => items.iter().map(render_record).collect(),
        None => vec![render_record(value)],
    }
}

/// One JSON record as text: an object's fields as `key: value` lines (nested values as
/// compact JSON), a string as itself.
fn render_record(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(object) => object
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// Intercom articles: one section per paragraph of each article's body.
fn intercom(value: &Value) -> Vec<Section> {
    let articles = match value {
        Value::Array(items) => items.clone(),
        Value::Object(object) => object
            .get("articles")
            .or_else(|| object.get("data"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_else(|| vec![value.clone()]),
        _ => Vec::new(),
    };
    let mut sections = Vec::new();
    for article in &articles {
        let text = |key: &str| article.get(key).and_then(Value::as_str).unwrap_or_default();
        let heading = text("title");
        let url = text("url");
        let body = html::parse(text("body")).text;
        for paragraph in body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            let mut metadata = Map::new();
            metadata.insert("article_url".into(), json!(url));
            metadata.insert("heading".into(), json!(heading));
            sections.push(Section {
                text: paragraph.to_owned(),
                metadata,
            });
        }
    }
    sections
}

/// The text of a DOCX body (`word/document.xml`): `<w:t>` runs, paragraphs (`</w:p>`) as
/// line breaks, tabs and breaks as spaces.
pub fn docx_text(document_xml: &str) -> String {
    let mut out = String::new();
    let mut rest = document_xml;
    let mut in_text = false;
    while let Some(lt) = rest.find('<') {
        if in_text {
            out.push_str(&html::decode_entities(&rest[..lt]));
        }
        let Some(gt) = rest[lt..].find('>') else {
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default();
        match (name, tag.starts_with('/')) {
            ("w:t", false) => in_text = !tag.ends_with('/'),
            ("w:t", true) => in_text = false,
            ("w:p", true) => out.push('\n'),
            ("w:tab" | "w:br", _) => out.push(' '),
            _ => {}
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_extensions_then_content_types() {
        assert_eq!(detect("a/b/readme.MD", None), DocumentKind::Markdown);
        assert_eq!(
            detect("page", Some("text/html; charset=utf-8")),
            DocumentKind::Html
        );
        assert_eq!(
            detect("x.bin", Some("application/octet-stream")),
            DocumentKind::Unknown
        );
        assert_eq!(detect("example.com/a.txt?x=1", None), DocumentKind::Text);
        assert_eq!(detect("report.pdf", None), DocumentKind::Pdf);
    }

    #[test]
    fn csv_records_become_sections() {
        let sections = load(
            DocumentKind::Csv,
            Loader::Default,
            b"sku,name,price\r\nA1,\"Desk, oak\",120\n\nB2,\"Lamp \"\"LED\"\"\",35\n",
        )
        .unwrap();
        let texts: Vec<&str> = sections.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "sku: A1\nname: Desk, oak\nprice: 120",
                "sku: B2\nname: Lamp \"LED\"\nprice: 35"
            ]
        );
    }

    #[test]
    fn json_arrays_are_records_and_other_json_is_one_section() {
        let records = load(
            DocumentKind::Json,
            Loader::Default,
            br#"{"faq": [{"q": "Hours?", "a": "9-5"}, "plain"]}"#,
        )
        .unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].text, "q: Hours?\na: 9-5");
        let lines = load(
            DocumentKind::Json,
            Loader::Default,
            b"{\"a\":1}\n{\"b\":2}\n",
        )
        .unwrap();
        assert_eq!(lines.len(), 2);
        assert!(load(DocumentKind::Json, Loader::Default, b"{nope").is_err());
    }

    #[test]
    fn binary_files_and_broken_pdfs_fail_with_a_reason() {
        assert!(
            load(DocumentKind::Unknown, Loader::Default, b"\x00\x01\x02")
                .unwrap_err()
                .contains("unsupported")
        );
        assert!(load(DocumentKind::Pdf, Loader::Default, b"%PDF-1.4")
            .unwrap_err()
            .contains("PDF"));
    }

    #[test]
    fn pdf_pages_become_paragraphs_in_order() {
        let pdf = pdf::write_text_pdf(&[
            &["Hello from the first page.", "Returns take 30 days."],
            &["Hello from the second page (with parentheses)."],
        ]);
        let expected = "Hello from the first page.\nReturns take 30 days.\n\n\
                        Hello from the second page (with parentheses).";
        for kind in [
            detect("manual.PDF", None),
            detect("manual", Some("application/pdf")),
            detect("manual.bin", Some("application/octet-stream")),
        ] {
            let sections = load(kind, Loader::Default, &pdf).unwrap();
            assert_eq!(sections.len(), 1);
            assert_eq!(sections[0].text, expected);
        }
    }

    #[test]
    fn broken_pdfs_fail_with_a_reason() {
        let pdf = pdf::write_text_pdf(&[&["Hello"]]);
        for bytes in [
            &pdf[..pdf.len() / 2],
            &pdf[..20],
            b"%PDF-1.4 garbage \x00\xff".as_slice(),
        ] {
            let reason = load(DocumentKind::Pdf, Loader::Default, bytes).unwrap_err();
            assert!(reason.contains("PDF"), "{reason}");
        }
    }

    #[test]
    fn intercom_articles_are_split_per_paragraph() {
        let sections = load(
            DocumentKind::Json,
            Loader::Intercom,
            br#"{"articles": [{"title": "Billing", "url": "https://help.example/billing",
                "body": "<p>Invoices are monthly.</p><p>Pay by card.</p>"}]}"#,
        )
        .unwrap();
        assert_eq!(sections.len(), 2);
        assert_eq!(sections[1].text, "Pay by card.");
        assert_eq!(sections[1].metadata["heading"], "Billing");
        assert_eq!(
            sections[1].metadata["article_url"],
            "https://help.example/billing"
        );
    }

    #[test]
    fn docx_paragraphs_become_lines() {
        let xml = r#"<w:document><w:body><w:p><w:r><w:t>Hello</w:t></w:r><w:r><w:t xml:space="preserve"> world &amp; all</w:t></w:r></w:p><w:p><w:r><w:t>Second</w:t></w:r></w:p></w:body></w:document>"#;
        assert_eq!(docx_text(xml), "Hello world & all\nSecond");
    }
}
