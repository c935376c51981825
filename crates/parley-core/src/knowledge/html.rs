//! The visible text of an HTML page, its title and its links — a small tolerant scanner, not a
//! full HTML parser: tags are dropped, `script`, `style`, `noscript`, `template`, `svg` and
//! `head` content (except `title`) is skipped, block elements become line breaks, entities are
//! decoded (the common named ones and every numeric one), and runs of spaces collapse.

/// Elements whose content is never visible text.
const HIDDEN: [&str; 7] = [
    "script", "style", "noscript", "template", "svg", "head", "iframe",
];
/// Elements that start a new line.
const BLOCKS: [&str; 32] = [
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "aside",
    "main",
    "blockquote",
    "pre",
    "hr",
    "dd",
    "dt",
    "dl",
    "figure",
    "figcaption",
    "form",
    "title",
    "td",
];

/// A parsed page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    /// The `<title>`, if any.
    pub title: Option<String>,
    /// The visible text, paragraphs separated by blank lines.
    pub text: String,
    /// The `href` of every `<a>`, as written.
    pub links: Vec<String>,
}

/// Parses `html` into its title, visible text and links.
pub fn parse(html: &str) -> Page {
    let mut page = Page::default();
    let mut out = String::new();
    let mut title = String::new();
    let mut in_title = false;
    let mut hidden: Option<String> = None;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_text(&mut out, &mut title, in_title, hidden.is_some(), rest);
            break;
        };
        push_text(
            &mut out,
            &mut title,
            in_title,
            hidden.is_some(),
            &rest[..lt],
        );
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        if rest.starts_with("<!") || rest.starts_with("<?") {
            rest = rest.find('>').map_or("", |i| &rest[i + 1..]);
            continue;
        }
        let Some(gt) = tag_end(rest) else {
            // A lone `<`: text.
            push_text(&mut out, &mut title, in_title, hidden.is_some(), "<");
            rest = &rest[1..];
            continue;
        };
        let tag = &rest[1..gt];
        let closing = tag.starts_with('/');
        let bare = tag.trim_start_matches('/');
        let name: String = if bare.starts_with(|c: char| c.is_ascii_alphabetic()) {
            bare.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
                .to_ascii_lowercase()
        } else {
            String::new()
        };
        if name.is_empty() {
            // Not a tag (`a < b`, `<3`): text.
            push_text(&mut out, &mut title, in_title, hidden.is_some(), "<");
            rest = &rest[1..];
            continue;
        }
        rest = &rest[gt + 1..];
        if let Some(open) = &hidden {
            if closing && *open == name {
                hidden = None;
            } else if name == "title" && open == "head" {
                in_title = !closing;
            }
            continue;
        }
        if name == "title" {
            in_title = !closing;
            continue;
        }
        if !closing && HIDDEN.contains(&name.as_str()) && !tag.trim_end().ends_with('/') {
            hidden = Some(name);
            continue;
        }
        if !closing && name == "a" {
            if let Some(href) = attribute(tag, "href") {
                page.links.push(decode_entities(&href));
            }
        }
        if BLOCKS.contains(&name.as_str()) {
            let paragraph = matches!(
                name.as_str(),
                "p" | "h1"
                    | "h2"
                    | "h3"
                    | "h4"
                    | "h5"
                    | "h6"
                    | "table"
                    | "section"
                    | "article"
                    | "blockquote"
                    | "pre"
            );
            out.push(if paragraph { PARAGRAPH } else { '\n' });
        } else if matches!(name.as_str(), "td" | "th") {
            out.push(' ');
        }
    }
    let title = collapse(&decode_entities(&title));
    page.title = (!title.is_empty()).then_some(title);
    page.text = tidy(&decode_entities(&out));
    page
}

/// Marks a paragraph break in the scanner's output (line breaks in the source are spaces).
const PARAGRAPH: char = '\u{2029}';

fn push_text(out: &mut String, title: &mut String, in_title: bool, hidden: bool, text: &str) {
    if in_title {
        title.push_str(text);
    } else if !hidden {
        out.extend(
            text.chars()
                .map(|c| if c.is_whitespace() { ' ' } else { c }),
        );
    }
}

/// The index of the `>` that ends the tag starting at `text[0]` (quotes respected).
fn tag_end(text: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices().skip(1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '>' => return Some(i),
            None if c == '<' && i == 1 => return None,
            None => {}
        }
    }
    None
}

/// The value of attribute `name` in a tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(name) {
        let at = from + found;
        from = at + name.len();
        let before_ok = at > 0 && lower.as_bytes()[at - 1].is_ascii_whitespace();
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let offset = tag.len() - after.len() + 1;
        let value = tag[offset..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or_default().to_owned(),
            _ => value
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or_default()
                .to_owned(),
        });
    }
    None
}

/// Decodes character references: `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` and a
/// few typographic ones by name, and every `&#NN;` / `&#xHH;`. Unknown ones stay as written.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..].find(';').map(|i| i + 1).filter(|i| *i <= 12);
        let decoded = end.and_then(|end| {
            let name = &rest[1..end];
            let c = if let Some(num) = name.strip_prefix('#') {
                let n = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse().ok(),
                };
                n.and_then(char::from_u32)
            } else {
                match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" | "#39" => Some('\''),
                    "nbsp" => Some(' '),
                    "ndash" => Some('–'),
                    "mdash" => Some('—'),
                    "hellip" => Some('…'),
                    "rsquo" => Some('’'),
                    "lsquo" => Some('‘'),
                    "ldquo" => Some('“'),
                    "rdquo" => Some('”'),
                    "copy" => Some('©'),
                    "euro" => Some('€'),
                    _ => None,
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Paragraphs separated by a blank line, lines within one by a line break, spaces collapsed,
/// empty lines dropped.
fn tidy(text: &str) -> String {
    text.split(PARAGRAPH)
        .map(|paragraph| {
            paragraph
                .split('\n')
                .map(collapse)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|paragraph| !paragraph.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_title_and_links() {
        let page = parse(
            r#"<!DOCTYPE html><html><head><title>Refund &amp; Returns</title>
            <style>body { color: red }</style><script>var x = "<p>no</p>";</script></head>
            <body><!-- hidden --><h1>Returns</h1><p>Items can be   returned
            within <b>30&nbsp;days</b>.</p><ul><li>Keep the receipt</li><li>Use the box</li></ul>
            <a href="/shipping">Shipping</a> <a class='x' href='https://other.example/'>Other</a>
            <noscript>enable js</noscript><p>5 &lt; 6 &#8212; &#x41;</p></body></html>"#,
        );
        assert_eq!(page.title.as_deref(), Some("Refund & Returns"));
        assert_eq!(
            page.text,
            "Returns\n\nItems can be returned within 30 days.\n\nKeep the receipt\nUse the box\n\
             Shipping Other\n\n5 < 6 — A"
        );
        assert_eq!(page.links, ["/shipping", "https://other.example/"]);
    }

    #[test]
    fn broken_markup_does_not_lose_text() {
        let page = parse("a < b and <3 <p>c & d");
        assert_eq!(page.text, "a < b and <3\n\nc & d");
    }
}
