//! A BERT sentence-embedding model (Hugging Face `model.safetensors` + `tokenizer.json`)
//! written as a GGUF file llama.cpp loads — the mapping of llama.cpp's `convert_hf_to_gguf.py`
//! for `BertModel`, done here so no Python is needed.
//!
//! Tensors are renamed (`encoder.layer.N.attention.self.query` → `blk.N.attn_q`, …), their
//! shapes reversed (GGUF lists the fastest-varying dimension first; the bytes stay as they
//! are), weight matrices stored as F16 and the rest as F32. The WordPiece vocabulary becomes
//! llama.cpp's "phantom space" form: a word-initial piece `the` is `▁the`, a continuation
//! `##ing` is `ing`, bracketed specials stay.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::Path;

/// What the tensors do not say about a BERT model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BertShape {
    /// Attention heads per layer.
    pub heads: u32,
    /// Epsilon of the layer norms.
    pub layer_norm_eps: f32,
}

const GGUF_MAGIC: &[u8; 4] = b"GGUF";
const GGUF_VERSION: u32 = 3;
const ALIGNMENT: u64 = 32;
const GGML_F32: u32 = 0;
const GGML_F16: u32 = 1;

/// One tensor of the safetensors file.
struct Source {
    dtype: String,
    shape: Vec<u64>,
    start: u64,
    end: u64,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads the header of a safetensors file: tensors by name, and where the data starts.
fn read_safetensors_header(file: &mut File) -> io::Result<(BTreeMap<String, Source>, u64)> {
    let mut length = [0u8; 8];
    file.read_exact(&mut length)?;
    let length = u64::from_le_bytes(length);
    if length > 100 * 1024 * 1024 {
        return Err(invalid("safetensors header is implausibly large"));
    }
    let mut header = vec![0u8; length as usize];
    file.read_exact(&mut header)?;
    let header: BTreeMap<String, Value> =
        serde_json::from_slice(&header).map_err(|e| invalid(format!("safetensors header: {e}")))?;
    let mut tensors = BTreeMap::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let offsets = info["data_offsets"]
            .as_array()
            .filter(|o| o.len() == 2)
            .ok_or_else(|| invalid(format!("{name}: no data_offsets")))?;
        tensors.insert(
            name.clone(),
            Source {
                dtype: info["dtype"].as_str().unwrap_or_default().to_owned(),
                shape: info["shape"]
                    .as_array()
                    .map(|s| s.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default(),
                start: offsets[0].as_u64().unwrap_or_default(),
                end: offsets[1].as_u64().unwrap_or_default(),
            },
        );
    }
    Ok((tensors, 8 + length))
}

/// The GGUF name of a Hugging Face BERT tensor; `None` for tensors llama.cpp does not use.
fn gguf_name(name: &str) -> Option<String> {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    let fixed = match name {
        "embeddings.word_embeddings.weight" => Some("token_embd.weight"),
        "embeddings.position_embeddings.weight" => Some("position_embd.weight"),
        "embeddings.token_type_embeddings.weight" => Some("token_types.weight"),
        "embeddings.LayerNorm.weight" => Some("token_embd_norm.weight"),
        "embeddings.LayerNorm.bias" => Some("token_embd_norm.bias"),
        _ => None,
    };
    if let Some(fixed) = fixed {
        return Some(fixed.to_owned());
    }
    let rest = name.strip_prefix("encoder.layer.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: u32 = layer.parse().ok()?;
    let (module, kind) = rest.rsplit_once('.')?;
    let target = match module {
        "attention.self.query" => "attn_q",
        "attention.self.key" => "attn_k",
        "attention.self.value" => "attn_v",
        "attention.output.dense" => "attn_output",
        "attention.output.LayerNorm" => "attn_output_norm",
        "intermediate.dense" => "ffn_up",
        "output.dense" => "ffn_down",
        "output.LayerNorm" => "layer_output_norm",
        _ => return None,
    };
    Some(format!("blk.{layer}.{target}.{kind}"))
}

/// `value` as IEEE half precision, rounded to nearest even.
fn f32_to_f16(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x7f_ffff;
    if exponent == 0xff {
        // Infinity or NaN.
        return sign | 0x7c00 | if mantissa != 0 { 0x200 } else { 0 };
    }
    let half_exponent = exponent - 127 + 15;
    if half_exponent >= 0x1f {
        return sign | 0x7c00;
    }
    if half_exponent <= 0 {
        if half_exponent < -10 {
            return sign;
        }
        let mantissa = mantissa | 0x80_0000;
        let shift = (14 - half_exponent) as u32;
        let half = mantissa >> shift;
        let remainder = mantissa & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let rounded = if remainder > halfway || (remainder == halfway && half & 1 == 1) {
            half + 1
        } else {
            half
        };
        return sign | rounded as u16;
    }
    let half = ((half_exponent as u32) << 10) | (mantissa >> 13);
    let remainder = mantissa & 0x1fff;
    let rounded = if remainder > 0x1000 || (remainder == 0x1000 && half & 1 == 1) {
        half + 1
    } else {
        half
    };
    sign | rounded as u16
}

/// A metadata value.
enum Meta {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    Strings(Vec<String>),
    I32s(Vec<i32>),
}

fn write_string(out: &mut impl Write, text: &str) -> io::Result<()> {
    out.write_all(&(text.len() as u64).to_le_bytes())?;
    out.write_all(text.as_bytes())
}

fn write_meta(out: &mut impl Write, key: &str, value: &Meta) -> io::Result<()> {
    write_string(out, key)?;
    match value {
        Meta::U32(v) => {
            out.write_all(&4u32.to_le_bytes())?;
            out.write_all(&v.to_le_bytes())
        }
        Meta::F32(v) => {
            out.write_all(&6u32.to_le_bytes())?;
            out.write_all(&v.to_le_bytes())
        }
        Meta::Bool(v) => {
            out.write_all(&7u32.to_le_bytes())?;
            out.write_all(&[u8::from(*v)])
        }
        Meta::Str(v) => {
            out.write_all(&8u32.to_le_bytes())?;
            write_string(out, v)
        }
        Meta::Strings(items) => {
            out.write_all(&9u32.to_le_bytes())?;
            out.write_all(&8u32.to_le_bytes())?;
            out.write_all(&(items.len() as u64).to_le_bytes())?;
            items.iter().try_for_each(|s| write_string(out, s))
        }
        Meta::I32s(items) => {
            out.write_all(&9u32.to_le_bytes())?;
            out.write_all(&5u32.to_le_bytes())?;
            out.write_all(&(items.len() as u64).to_le_bytes())?;
            items
                .iter()
                .try_for_each(|v| out.write_all(&v.to_le_bytes()))
        }
    }
}

/// The vocabulary of a WordPiece `tokenizer.json`, in id order, in phantom-space form, with
/// token types (1 normal, 3 control), and whether it lowercases.
fn vocabulary(tokenizer: &Value) -> io::Result<(Vec<String>, Vec<i32>, bool)> {
    let model = &tokenizer["model"];
    if model["type"].as_str() != Some("WordPiece") {
        return Err(invalid("tokenizer.json: not a WordPiece tokenizer"));
    }
    let vocab = model["vocab"]
        .as_object()
        .ok_or_else(|| invalid("tokenizer.json: no model.vocab"))?;
    let mut tokens = vec![String::new(); vocab.len()];
    for (piece, id) in vocab {
        let id = id
            .as_u64()
            .filter(|id| (*id as usize) < tokens.len())
            .ok_or_else(|| invalid(format!("tokenizer.json: bad id for {piece:?}")))?;
        tokens[id as usize] = if piece.starts_with('[') && piece.ends_with(']') {
            piece.clone()
        } else if let Some(rest) = piece.strip_prefix("##") {
            rest.to_owned()
        } else {
            format!("\u{2581}{piece}")
        };
    }
    let mut types = vec![1i32; tokens.len()];
    for added in tokenizer["added_tokens"].as_array().into_iter().flatten() {
        if added["special"].as_bool() == Some(true) {
            if let Some(id) = added["id"]
                .as_u64()
                .filter(|id| (*id as usize) < types.len())
            {
                types[id as usize] = 3;
            }
        }
    }
    let lowercase = tokenizer["normalizer"]["lowercase"]
        .as_bool()
        .unwrap_or(true);
    Ok((tokens, types, lowercase))
}

/// Writes the GGUF file `out` from a BERT model's `model.safetensors` and `tokenizer.json`.
/// The file is written next to `out` and renamed into place, so a reader never sees half of
/// it.
pub fn convert_bert(
    safetensors: &Path,
    tokenizer_json: &Path,
    shape: BertShape,
    name: &str,
    out: &Path,
) -> io::Result<()> {
    let tokenizer: Value = serde_json::from_slice(&std::fs::read(tokenizer_json)?)
        .map_err(|e| invalid(format!("tokenizer.json: {e}")))?;
    let (tokens, token_types, lowercase) = vocabulary(&tokenizer)?;
    let mut input = File::open(safetensors)?;
    let (sources, data_start) = read_safetensors_header(&mut input)?;

    // (gguf name, source, output type), in a stable order.
    let mut tensors: Vec<(String, &Source, u32)> = Vec::new();
    for (name, source) in &sources {
        let Some(target) = gguf_name(name) else {
            continue;
        };
        if source.dtype != "F32" {
            return Err(invalid(format!(
                "{name}: dtype {} (only F32 is read)",
                source.dtype
            )));
        }
        // Matrices the graph multiplies (and the word embeddings, read by row) as F16;
        // vectors, and the embeddings the graph adds directly, as F32.
        let added = target == "token_types.weight" || target == "position_embd.weight";
        let kind = if source.shape.len() >= 2 && !added {
            GGML_F16
        } else {
            GGML_F32
        };
        tensors.push((target, source, kind));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let find = |wanted: &str| tensors.iter().find(|(n, _, _)| n == wanted).map(|t| t.1);
    let embedding = find("token_embd.weight").ok_or_else(|| invalid("no word embeddings"))?;
    let positions =
        find("position_embd.weight").ok_or_else(|| invalid("no position embeddings"))?;
    let up = find("blk.0.ffn_up.weight").ok_or_else(|| invalid("no feed-forward layer"))?;
    let layers = tensors
        .iter()
        .filter_map(|(n, _, _)| {
            n.strip_prefix("blk.")?
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .max()
        .map_or(0, |max| max + 1);
    let hidden = embedding.shape[1] as u32;
    if embedding.shape[0] as usize != tokens.len() {
        return Err(invalid(
            "the vocabulary and the embeddings disagree on size",
        ));
    }
    let token_type_count = find("token_types.weight").map_or(2, |t| t.shape[0] as u32);

    let metadata: Vec<(&str, Meta)> = vec![
        ("general.architecture", Meta::Str("bert".into())),
        ("general.name", Meta::Str(name.into())),
        ("general.file_type", Meta::U32(1)),
        ("bert.block_count", Meta::U32(layers)),
        ("bert.context_length", Meta::U32(positions.shape[0] as u32)),
        ("bert.embedding_length", Meta::U32(hidden)),
        ("bert.feed_forward_length", Meta::U32(up.shape[0] as u32)),
        ("bert.attention.head_count", Meta::U32(shape.heads)),
        (
            "bert.attention.layer_norm_epsilon",
            Meta::F32(shape.layer_norm_eps),
        ),
        ("bert.attention.causal", Meta::Bool(false)),
        ("bert.pooling_type", Meta::U32(1)),
        ("tokenizer.ggml.model", Meta::Str("bert".into())),
        ("tokenizer.ggml.pre", Meta::Str("default".into())),
        (
            "tokenizer.ggml.token_type_count",
            Meta::U32(token_type_count),
        ),
        ("tokenizer.ggml.normalizer.lowercase", Meta::Bool(lowercase)),
        ("tokenizer.ggml.tokens", Meta::Strings(tokens)),
        ("tokenizer.ggml.token_type", Meta::I32s(token_types)),
        ("tokenizer.ggml.unknown_token_id", Meta::U32(100)),
        ("tokenizer.ggml.seperator_token_id", Meta::U32(102)),
        ("tokenizer.ggml.padding_token_id", Meta::U32(0)),
        ("tokenizer.ggml.cls_token_id", Meta::U32(101)),
        ("tokenizer.ggml.mask_token_id", Meta::U32(103)),
    ];

    let directory = out.parent().unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(directory)?;
    {
        let mut w = BufWriter::new(temporary.as_file_mut());
        w.write_all(GGUF_MAGIC)?;
        w.write_all(&GGUF_VERSION.to_le_bytes())?;
        w.write_all(&(tensors.len() as u64).to_le_bytes())?;
        w.write_all(&(metadata.len() as u64).to_le_bytes())?;
        for (key, value) in &metadata {
            write_meta(&mut w, key, value)?;
        }
        let mut offset = 0u64;
        for (name, source, kind) in &tensors {
            write_string(&mut w, name)?;
            w.write_all(&(source.shape.len() as u32).to_le_bytes())?;
            for dim in source.shape.iter().rev() {
                w.write_all(&dim.to_le_bytes())?;
            }
            w.write_all(&kind.to_le_bytes())?;
            w.write_all(&offset.to_le_bytes())?;
            let elements: u64 = source.shape.iter().product();
            let bytes = elements * if *kind == GGML_F16 { 2 } else { 4 };
            offset += bytes.div_ceil(ALIGNMENT) * ALIGNMENT;
        }
        w.flush()?;
        let mut position = w.stream_position()?;
        let pad = |w: &mut BufWriter<_>, position: &mut u64| -> io::Result<()> {
            let padding = (ALIGNMENT - *position % ALIGNMENT) % ALIGNMENT;
            w.write_all(&vec![0u8; padding as usize])?;
            *position += padding;
            Ok(())
        };
        pad(&mut w, &mut position)?;
        for (name, source, kind) in &tensors {
            let length = source.end - source.start;
            let elements: u64 = source.shape.iter().product();
            if length != elements * 4 {
                return Err(invalid(format!(
                    "{name}: data size does not match its shape"
                )));
            }
            input.seek(io::SeekFrom::Start(data_start + source.start))?;
            let mut data = vec![0u8; length as usize];
            input.read_exact(&mut data)?;
            if *kind == GGML_F16 {
                let mut half = Vec::with_capacity(data.len() / 2);
                for bytes in data.chunks_exact(4) {
                    let value = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    half.extend_from_slice(&f32_to_f16(value).to_le_bytes());
                }
                data = half;
            }
            w.write_all(&data)?;
            position += data.len() as u64;
            pad(&mut w, &mut position)?;
        }
        w.flush()?;
    }
    temporary.as_file().sync_all()?;
    temporary.persist(out).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_llama_cpp() {
        assert_eq!(
            gguf_name("encoder.layer.3.attention.self.query.weight").as_deref(),
            Some("blk.3.attn_q.weight")
        );
        assert_eq!(
            gguf_name("bert.encoder.layer.0.output.LayerNorm.bias").as_deref(),
            Some("blk.0.layer_output_norm.bias")
        );
        assert_eq!(
            gguf_name("embeddings.LayerNorm.weight").as_deref(),
            Some("token_embd_norm.weight")
        );
        assert_eq!(gguf_name("embeddings.position_ids"), None);
        assert_eq!(gguf_name("pooler.dense.weight"), None);
    }

    #[test]
    fn half_precision_rounds_to_nearest() {
        assert_eq!(f32_to_f16(0.0), 0);
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert_eq!(f32_to_f16(-2.0), 0xc000);
        assert_eq!(f32_to_f16(65504.0), 0x7bff);
        assert_eq!(f32_to_f16(1e9), 0x7c00);
        assert_eq!(f32_to_f16(5.960_464_5e-8), 0x0001);
        assert_eq!(f32_to_f16(0.333_333_34), 0x3555);
    }

    #[test]
    fn vocabulary_uses_phantom_spaces() {
        let tokenizer = serde_json::json!({
            "model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "the": 1, "##ing": 2}},
            "added_tokens": [{"id": 0, "special": true}],
            "normalizer": {"lowercase": true},
        });
        let (tokens, types, lowercase) = vocabulary(&tokenizer).unwrap();
        assert_eq!(tokens, ["[PAD]", "\u{2581}the", "ing"]);
        assert_eq!(types, [3, 1, 1]);
        assert!(lowercase);
    }
}
