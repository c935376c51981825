//! The text of a PDF file, page by page, read with `pdf-extract` (pure Rust, `lopdf`
//! underneath).
//!
//! A file that cannot be read gives an error naming why, never a panic: the parser is run under
//! [`std::panic::catch_unwind`], because it panics on some malformed input. Two shapes would
//! recurse without end inside the parser, and a stack overflow aborts the process rather than
//! unwinding, so they are refused before extraction: a page whose chain of `/Parent` entries
//! loops, and a Form XObject that draws itself, directly or through others. So is a page tree
//! whose `/Kids` come back to a node already seen, which would make the page list explode.
//!
//! Each page's text is tidied like the other loaders' output — spaces collapsed, empty lines
//! dropped, a blank line where the page's layout leaves one — and pages are separated by a
//! paragraph break.

use pdf_extract::{Dictionary, Document, Object, ObjectId};
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// How many nodes the page tree may have.
const MAX_TREE_NODES: usize = 100_000;
/// How many `/Parent` links a page may have above it.
const MAX_TREE_DEPTH: usize = 64;
/// How many Form XObjects one page may nest.
const MAX_FORM_DEPTH: usize = 32;
/// How many Form XObject visits the recursion check makes per page before giving up.
const MAX_FORM_VISITS: usize = 10_000;

/// The magic bytes every PDF file starts with.
pub const MAGIC: &[u8] = b"%PDF-";

/// The text of each page of the PDF `bytes`, in page order, tidied.
pub fn pages(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut document =
        guarded(|| Document::load_mem(bytes)).map_err(|e| format!("not a readable PDF: {e}"))?;
    if document.is_encrypted() {
        guarded(|| document.decrypt(""))
            .map_err(|_| "the PDF is encrypted with a password".to_owned())?;
    }
    check_page_tree(&document)?;
    let page_ids = document.get_pages();
    if page_ids.is_empty() {
        return Err("the PDF has no pages".to_owned());
    }
    let mut pages = Vec::with_capacity(page_ids.len());
    for (&number, &id) in &page_ids {
        check_recursion(&document, id).map_err(|e| format!("page {number} of the PDF {e}"))?;
        let mut text = String::new();
        guarded(|| {
            let mut output = pdf_extract::PlainTextOutput::new(&mut text);
            pdf_extract::output_doc_page(&document, &mut output, number)
        })
        .map_err(|e| format!("cannot read page {number} of the PDF: {e}"))?;
        pages.push(tidy(&text));
    }
    Ok(pages)
}

/// Runs `read`, turning a panic into an error carrying its message.
fn guarded<T, E: std::fmt::Display>(read: impl FnOnce() -> Result<T, E>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(read)) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(panic) => Err(panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .map_or_else(
                || "malformed PDF".to_owned(),
                |m| format!("malformed PDF ({m})"),
            )),
    }
}

/// Refuses a page tree in which a node is reached twice, or that is too large.
fn check_page_tree(document: &Document) -> Result<(), String> {
    let root = document
        .catalog()
        .ok()
        .and_then(|catalog| catalog.get(b"Pages").ok())
        .and_then(|pages| pages.as_reference().ok())
        .ok_or_else(|| "not a readable PDF: no page tree".to_owned())?;
    let mut seen = HashSet::new();
    let mut pending = vec![root];
    while let Some(id) = pending.pop() {
        if !seen.insert(id) {
            return Err("the PDF's page tree loops".to_owned());
        }
        if seen.len() > MAX_TREE_NODES {
            return Err(format!("the PDF has more than {MAX_TREE_NODES} pages"));
        }
        let kids = document
            .get_dictionary(id)
            .ok()
            .and_then(|node| node.get(b"Kids").ok())
            .and_then(|kids| match kids {
                Object::Reference(id) => document.get_object(*id).ok(),
                direct => Some(direct),
            })
            .and_then(|kids| kids.as_array().ok());
        pending.extend(
            kids.into_iter()
                .flatten()
                .filter_map(|kid| kid.as_reference().ok()),
        );
    }
    Ok(())
}

/// Refuses a page that the parser would recurse on without end.
fn check_recursion(document: &Document, page: ObjectId) -> Result<(), String> {
    let mut seen = HashSet::new();
    let mut current = Some(page);
    let mut resources = None;
    while let Some(id) = current {
        if !seen.insert(id) || seen.len() > MAX_TREE_DEPTH {
            return Err("has a page tree that loops".to_owned());
        }
        let Ok(node) = document.get_dictionary(id) else {
            break;
        };
        if resources.is_none() {
            resources = node
                .get(b"Resources")
                .ok()
                .and_then(|r| dictionary(document, r));
        }
        current = node.get(b"Parent").and_then(Object::as_reference).ok();
    }
    let mut visits = 0;
    match resources {
        Some(resources) if forms_recurse(document, resources, &mut Vec::new(), &mut visits) => {
            Err("draws a form that contains itself".to_owned())
        }
        _ => Ok(()),
    }
}

/// Whether a Form XObject reachable from `resources` draws itself (or nests too deeply to
/// tell). A form without its own resources draws with its caller's, as the parser does.
fn forms_recurse(
    document: &Document,
    resources: &Dictionary,
    path: &mut Vec<ObjectId>,
    visits: &mut usize,
) -> bool {
    let Some(xobjects) = resources
        .get(b"XObject")
        .ok()
        .and_then(|x| dictionary(document, x))
    else {
        return false;
    };
    for (_, entry) in xobjects.iter() {
        let Ok(id) = entry.as_reference() else {
            continue;
        };
        let Ok(stream) = document.get_object(id).and_then(Object::as_stream) else {
            continue;
        };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form".as_slice()) {
            continue;
        }
        *visits += 1;
        if path.contains(&id) || path.len() >= MAX_FORM_DEPTH || *visits > MAX_FORM_VISITS {
            return true;
        }
        let inner = stream
            .dict
            .get(b"Resources")
            .ok()
            .and_then(|r| dictionary(document, r))
            .unwrap_or(resources);
        path.push(id);
        if forms_recurse(document, inner, path, visits) {
            return true;
        }
        path.pop();
    }
    false
}

/// `object` as a dictionary, following one reference.
fn dictionary<'a>(document: &'a Document, object: &'a Object) -> Option<&'a Dictionary> {
    match object {
        Object::Reference(id) => document.get_dictionary(*id).ok(),
        other => other.as_dict().ok(),
    }
}

/// Lines with spaces collapsed and empty lines dropped; a blank line in the page's text (the
/// extractor leaves one where the layout skips a line) stays as a paragraph break.
fn tidy(text: &str) -> String {
    let mut paragraphs = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for line in text.replace("\r\n", "\n").split(['\n', '\r', '\u{c}']) {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            if !lines.is_empty() {
                paragraphs.push(std::mem::take(&mut lines).join("\n"));
            }
        } else {
            lines.push(line);
        }
    }
    if !lines.is_empty() {
        paragraphs.push(lines.join("\n"));
    }
    paragraphs.join("\n\n")
}

/// A minimal, valid PDF 1.4 file with one page per entry of `pages`, each drawing its lines
/// in 12-point Helvetica, one line under the other; the cross-reference table is computed
/// from the byte offsets. Sample documents and fixtures are made with it.
pub fn write_text_pdf(pages: &[&[&str]]) -> Vec<u8> {
    let count = pages.len();
    let kids: Vec<String> = (0..count).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {count} >>",
            kids.join(" ")
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    for (i, lines) in pages.iter().enumerate() {
        let mut content = String::from("BT /F1 12 Tf 72 720 Td");
        for line in *lines {
            let escaped = line
                .replace('\\', "\\\\")
                .replace('(', "\\(")
                .replace(')', "\\)");
            content.push_str(&format!(" ({escaped}) Tj 0 -16 Td"));
        }
        content.push_str(" ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    write_pdf_objects(&objects)
}

/// A PDF 1.4 file of `objects` (object `i + 1` is `objects[i]`, object 1 the catalog) with a
/// cross-reference table computed from the byte offsets.
pub(crate) fn write_pdf_objects(objects: &[String]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_come_out_in_order() {
        let pdf = write_text_pdf(&[&["Hello from page one", "Second line"], &["Page two here"]]);
        assert_eq!(
            pages(&pdf).unwrap(),
            ["Hello from page one\nSecond line", "Page two here"]
        );
    }

    #[test]
    fn truncated_and_garbage_files_are_errors() {
        let pdf = write_text_pdf(&[&["Hello"]]);
        for cut in [0, 5, 9, pdf.len() / 3, pdf.len() / 2, pdf.len() - 40] {
            assert!(pages(&pdf[..cut]).is_err(), "cut at {cut}");
        }
        assert!(pages(b"%PDF-1.7 ...").is_err());
        let mut noise = MAGIC.to_vec();
        noise.extend((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        assert!(pages(&noise).is_err());
        // Every byte position overwritten: errors or text, never a panic.
        for i in (0..pdf.len()).step_by(7) {
            let mut broken = pdf.clone();
            broken[i] ^= 0x5a;
            let _ = pages(&broken);
        }
    }

    #[test]
    fn recursive_structures_are_refused() {
        let catalog = "<< /Type /Catalog /Pages 2 0 R >>".to_owned();
        let content = "<< /Length 9 >>\nstream\n/X Do    \nendstream".to_owned();
        // A page that is its own parent, with no media box to inherit: the parser would
        // climb forever.
        let looping = write_pdf_objects(&[
            catalog.clone(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 3 0 R /Contents 4 0 R >>".to_owned(),
            content.clone(),
        ]);
        assert!(pages(&looping).unwrap_err().contains("loops"));
        // A node that is its own kid, twice: the page list would double at every level.
        let kids = write_pdf_objects(&[
            catalog.clone(),
            "<< /Type /Pages /Kids [2 0 R 2 0 R 3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>".to_owned(),
            content.clone(),
        ]);
        assert!(pages(&kids).unwrap_err().contains("page tree loops"));
        // A form that draws itself.
        let drawing_itself = write_pdf_objects(&[
            catalog,
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
             /Resources << /XObject << /X 5 0 R >> >> /Contents 4 0 R >>"
                .to_owned(),
            content,
            "<< /Type /XObject /Subtype /Form /Length 9 >>\nstream\n/X Do    \nendstream"
                .to_owned(),
        ]);
        assert!(pages(&drawing_itself)
            .unwrap_err()
            .contains("form that contains itself"));
    }

    #[test]
    fn text_is_tidied() {
        assert_eq!(tidy("  a   b \n\n\n c\r\nd \u{c}\n"), "a b\n\nc\nd");
    }
}
