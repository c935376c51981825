//! Cutting text into overlapping chunks.
//!
//! Sizes are in characters. A chunk is at most `size` characters; it ends at the best
//! boundary in its second half — a paragraph break, else the end of a sentence or line — else
//! at its last space, and only mid-word when it has none. The next chunk starts `overlap` characters before the
//! previous one ended, moved forward to the start of a word, and always after the previous
//! chunk's start, so the cutting ends. Whitespace at either end of a chunk is trimmed and
//! empty chunks are dropped.

/// Cuts `text` into chunks of at most `size` characters, consecutive chunks sharing about
/// `overlap` characters. `overlap` is clamped below `size`.
pub fn chunk_text(text: &str, size: usize, overlap: usize) -> Vec<String> {
    let size = size.max(1);
    let overlap = overlap.min(size - 1);
    let chars: Vec<char> = text.chars().collect();
    let mut chunks = Vec::new();
    let mut start = skip_space(&chars, 0);
    while start < chars.len() {
        let hard_end = (start + size).min(chars.len());
        let end = if hard_end == chars.len() {
            hard_end
        } else {
            boundary(&chars, start, hard_end, size)
        };
        let chunk: String = chars[start..end].iter().collect();
        let chunk = chunk.trim();
        if !chunk.is_empty() {
            chunks.push(chunk.to_owned());
        }
        if end >= chars.len() {
            break;
        }
        let mut next = end.saturating_sub(overlap).max(start + 1);
        // Start at a word: move forward past the rest of a cut word.
        if next < end && !chars[next - 1].is_whitespace() {
            while next < end && !chars[next].is_whitespace() {
                next += 1;
            }
        }
        if next >= end {
            next = end;
        }
        start = skip_space(&chars, next);
    }
    chunks
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The best place to end a chunk that starts at `start` and may not pass `hard_end`.
fn boundary(chars: &[char], start: usize, hard_end: usize, size: usize) -> usize {
    let floor = (hard_end - size / 2).max(start + 1);
    // A paragraph break (blank line).
    for i in (floor..hard_end).rev() {
        if chars[i] == '\n' && i > 0 && chars[i - 1] == '\n' {
            return i;
        }
    }
    // The end of a sentence or a line.
    for i in (floor..hard_end).rev() {
        if chars[i] == '\n' {
            return i;
        }
        if matches!(chars[i - 1], '.' | '!' | '?' | ';' | ':') && chars[i].is_whitespace() {
            return i;
        }
    }
    // A space, anywhere in the chunk.
    for i in (start + 1..hard_end).rev() {
        if chars[i].is_whitespace() {
            return i;
        }
    }
    hard_end
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(chunk_text("  hello world \n", 100, 10), ["hello world"]);
        assert!(chunk_text("   ", 100, 10).is_empty());
    }

    #[test]
    fn chunks_end_at_sentences_and_overlap() {
        let text = "The cat sat. The dog ran far away. Birds sing loudly. Fish swim.";
        let chunks = chunk_text(text, 20, 5);
        assert_eq!(chunks[0], "The cat sat.");
        assert!(chunks.iter().all(|c| c.chars().count() <= 20), "{chunks:?}");
        assert!(chunks.last().unwrap().ends_with("Fish swim."));
        // Every word of the text is in some chunk.
        for word in text.split_whitespace() {
            assert!(chunks.iter().any(|c| c.contains(word)), "{word}");
        }
    }

    #[test]
    fn paragraph_breaks_are_preferred() {
        let text = format!("{}\n\n{}", "a ".repeat(40).trim(), "b ".repeat(40).trim());
        let chunks = chunk_text(&text, 100, 0);
        assert_eq!(chunks[0], "a ".repeat(40).trim());
    }

    proptest! {
        #[test]
        fn chunks_are_bounded_cover_the_text_and_end(
            text in "[a-z .\n]{0,400}", size in 1usize..80, overlap in 0usize..80
        ) {
            let chunks = chunk_text(&text, size, overlap);
            for chunk in &chunks {
                prop_assert!(chunk.chars().count() <= size);
                prop_assert!(!chunk.is_empty());
            }
            let words: Vec<&str> = text.split_whitespace().filter(|w| w.len() <= size).collect();
            for word in words {
                prop_assert!(chunks.iter().any(|c| c.contains(word)), "{} missing", word);
            }
        }
    }
}
