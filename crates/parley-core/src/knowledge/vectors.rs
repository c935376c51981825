//! Embedding vectors: their stored form (little-endian `f32`s) and exact cosine search.
//!
//! Vectors are L2-normalised when stored, so the cosine similarity of two of them is their
//! dot product. Search reports the cosine **distance** `1 - cos` (0 = same direction), and a
//! **certainty** `(1 + cos) / 2` in 0..1 (higher = closer), as Weaviate defines it.

/// The stored form of a vector: 4 bytes per component, little-endian.
pub fn to_bytes(vector: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(vector.len() * 4);
    for x in vector {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes
}

/// A vector from its stored form; `None` when the length is not a multiple of 4.
pub fn from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    )
}

/// Scales `vector` to unit length (a zero vector stays zero).
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in vector.iter_mut() {
            *x /= norm;
        }
    }
}

/// The dot product of two equally long vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent sums over fixed-size blocks (no bounds checks) let the compiler
    // vectorise the loop.
    let mut sums = [0.0f32; 8];
    let (a_blocks, b_blocks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_blocks
        .remainder()
        .iter()
        .zip(b_blocks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_blocks.zip(b_blocks) {
        let x: &[f32; 8] = x.try_into().expect("blocks of 8");
        let y: &[f32; 8] = y.try_into().expect("blocks of 8");
        for j in 0..8 {
            sums[j] += x[j] * y[j];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// Cosine distance of two unit vectors, in 0..2 (clamped against rounding).
pub fn distance(cosine: f32) -> f32 {
    (1.0 - cosine).clamp(0.0, 2.0)
}

/// Certainty of a match, in 0..1.
pub fn certainty(cosine: f32) -> f32 {
    ((1.0 + cosine) / 2.0).clamp(0.0, 1.0)
}

/// Many vectors of one dimension, stored contiguously, with an id each.
#[derive(Debug, Clone, Default)]
pub struct Matrix {
    dimensions: usize,
    ids: Vec<i64>,
    values: Vec<f32>,
}

impl Matrix {
    /// An empty matrix of `dimensions` columns.
    pub fn new(dimensions: usize) -> Self {
        Self {
            dimensions,
            ids: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Adds a row; false (and nothing added) when its length is not the matrix's dimension.
    pub fn push(&mut self, id: i64, vector: &[f32]) -> bool {
        if vector.len() != self.dimensions {
            return false;
        }
        self.ids.push(id);
        self.values.extend_from_slice(vector);
        true
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The dimension.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The `k` rows most similar to `query` (a unit vector), most similar first, as
    /// `(id, cosine)`; ties go to the smaller id. Exact: every row is scored.
    pub fn top_k(&self, query: &[f32], k: usize) -> Vec<(i64, f32)> {
        if k == 0 || query.len() != self.dimensions || self.dimensions == 0 {
            return Vec::new();
        }
        // A small sorted buffer beats a heap for the k ≤ 100 searches make.
        let mut best: Vec<(i64, f32)> = Vec::with_capacity(k + 1);
        for (row, id) in self.values.chunks_exact(self.dimensions).zip(&self.ids) {
            let score = dot(row, query);
            if best.len() == k {
                let (last_id, last_score) = best[k - 1];
                if score < last_score || (score == last_score && *id > last_id) {
                    continue;
                }
            }
            let at = best
                .iter()
                .position(|(other_id, other)| score > *other || (score == *other && id < other_id))
                .unwrap_or(best.len());
            best.insert(at, (*id, score));
            best.truncate(k);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let v = vec![0.5f32, -1.25, 3.0e-7];
        assert_eq!(from_bytes(&to_bytes(&v)).unwrap(), v);
        assert!(from_bytes(&[1, 2, 3]).is_none());
    }

    #[test]
    fn top_k_is_exact_and_ordered() {
        let mut m = Matrix::new(2);
        let rows = [
            (1, [1.0, 0.0]),
            (2, [0.0, 1.0]),
            (3, [0.6, 0.8]),
            (4, [-1.0, 0.0]),
        ];
        for (id, row) in rows {
            assert!(m.push(id, &row));
        }
        assert!(!m.push(5, &[1.0]));
        let top = m.top_k(&[1.0, 0.0], 3);
        let ids: Vec<i64> = top.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [1, 3, 2]);
        assert!((distance(top[1].1) - 0.4).abs() < 1e-6);
        assert!((certainty(-1.0)).abs() < 1e-6);
        let mut v = [3.0, 4.0];
        normalize(&mut v);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
    }
}
