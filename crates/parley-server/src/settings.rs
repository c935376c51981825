//! Configuration: defaults, then an optional TOML file, then `PARLEY_*` environment
//! variables, then command-line flags — parsed once into a validated [`Settings`]. Nothing
//! else in Parley reads the environment.

use parley_core::secrets::MasterKey;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default address the server listens on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "parley-data";
/// Default request body limit: 2 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// The model assistants use when they name none: the embedded default model.
pub const DEFAULT_MODEL: &str = "HuggingFaceTB/SmolLM2-135M-Instruct";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Validated settings of a Parley process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Directory for the SQLite file and `admin.key`.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; `None` for SQLite in the data directory.
    pub database_url: Option<String>,
    /// Largest PostgreSQL connection pool.
    pub database_max_connections: usize,
    /// A key that must exist for the default organization (`PARLEY_API_KEY`).
    pub api_key: Option<String>,
    /// Whether outbound requests may go to loopback and private addresses.
    pub allow_private_network: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Model filled in for assistants that name none.
    pub default_model: String,
    /// How long an idempotency key is remembered, in hours.
    pub idempotency_ttl_hours: u32,
    /// Log filter (`info`, `parley_server=debug`, …).
    pub log: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// Key integration secrets are encrypted with (`PARLEY_MASTER_KEY`); `None` to use the
    /// key in `DATA_DIR/master.key`, generated on first start. Its `Debug` prints `***`.
    pub master_key: Option<MasterKey>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("default listen address parses"),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            database_url: None,
            database_max_connections: 16,
            api_key: None,
            allow_private_network: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            default_model: DEFAULT_MODEL.to_owned(),
            idempotency_ttl_hours: 24,
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            master_key: None,
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
}

/// The TOML file: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_max_connections: Option<usize>,
    api_key: Option<String>,
    allow_private_network: Option<bool>,
    max_body_bytes: Option<usize>,
    default_model: Option<String>,
    idempotency_ttl_hours: Option<u32>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    master_key: Option<SecretText>,
}

/// Text that must not be printed (the master key as read); its `Debug` prints `***`.
#[derive(Default, Deserialize)]
#[serde(transparent)]
struct SecretText(String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A setting that could not be used; start-up stops with this message.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// One setting has an unusable value.
    #[error("setting {name}: {message}")]
    Invalid {
        /// The setting (`PARLEY_LISTEN`, `listen`, `--listen`).
        name: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(name: &str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        name: name.to_owned(),
        message: message.into(),
    }
}

impl Settings {
    /// Layers defaults, `file`, the `PARLEY_*` variables of `env` and `overrides`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: Overrides,
    ) -> Result<Self, SettingsError> {
        let mut raw = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str::<FileSettings>(&text).map_err(|e| {
                    // The message and line only: toml's own rendering quotes the offending
                    // line, which may hold the master key or an API key.
                    let (line, key) = match e.span() {
                        Some(span) => {
                            let start = span.start.min(text.len());
                            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
                            let line_text = text[line_start..].lines().next().unwrap_or_default();
                            let key = line_text
                                .split_once('=')
                                .map(|(key, _)| key.trim().to_owned())
                                .filter(|key| !key.is_empty());
                            (Some(text[..start].matches('\n').count() + 1), key)
                        }
                        None => (None, None),
                    };
                    let at = match (line, key) {
                        (Some(line), Some(key)) => format!("line {line} ({key}): "),
                        (Some(line), None) => format!("line {line}: "),
                        _ => String::new(),
                    };
                    SettingsError::File {
                        path: path.to_owned(),
                        message: format!("{at}{}", e.message().trim()),
                    }
                })?
            }
            None => FileSettings::default(),
        };
        for (name, value) in env {
            let parse_usize = |v: &str| {
                v.parse::<usize>()
                    .map_err(|_| invalid(&name, format!("{v:?} is not a whole number")))
            };
            match name.as_str() {
                "PARLEY_LISTEN" => raw.listen = Some(value),
                "PARLEY_DATA_DIR" => raw.data_dir = Some(value.into()),
                "PARLEY_DATABASE_URL" => raw.database_url = Some(value),
                "PARLEY_DATABASE_MAX_CONNECTIONS" => {
                    raw.database_max_connections = Some(parse_usize(&value)?)
                }
                "PARLEY_API_KEY" => raw.api_key = Some(value),
                "PARLEY_ALLOW_PRIVATE_NETWORK" => {
                    raw.allow_private_network = Some(parse_bool(&name, &value)?)
                }
                "PARLEY_MAX_BODY_BYTES" => raw.max_body_bytes = Some(parse_usize(&value)?),
                "PARLEY_DEFAULT_MODEL" => raw.default_model = Some(value),
                "PARLEY_IDEMPOTENCY_TTL_HOURS" => {
                    raw.idempotency_ttl_hours = Some(
                        u32::try_from(parse_usize(&value)?)
                            .map_err(|_| invalid(&name, "too large"))?,
                    )
                }
                "PARLEY_LOG" => raw.log = Some(value),
                "PARLEY_MASTER_KEY" => {
                    parse_master_key(&name, &value)?;
                    raw.master_key = Some(SecretText(value));
                }
                "PARLEY_LOG_FORMAT" => {
                    raw.log_format = Some(match value.as_str() {
                        "text" => LogFormat::Text,
                        "json" => LogFormat::Json,
                        other => {
                            return Err(invalid(&name, format!("{other:?} is not text or json")))
                        }
                    })
                }
                _ => {}
            }
        }
        if let Some(listen) = overrides.listen {
            raw.listen = Some(listen);
        }
        if let Some(dir) = overrides.data_dir {
            raw.data_dir = Some(dir);
        }
        if let Some(url) = overrides.database_url {
            raw.database_url = Some(url);
        }
        Self::validate(raw)
    }

    fn validate(raw: FileSettings) -> Result<Self, SettingsError> {
        let defaults = Settings::default();
        let listen = match raw.listen {
            Some(text) => text.parse().map_err(|_| {
                invalid(
                    "listen",
                    format!("{text:?} is not an address like 127.0.0.1:8080"),
                )
            })?,
            None => defaults.listen,
        };
        let database_url = raw.database_url.filter(|u| !u.trim().is_empty());
        if let Some(url) = &database_url {
            if !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
            {
                return Err(invalid(
                    "database_url",
                    format!("{url:?} is neither postgres://… nor sqlite:PATH"),
                ));
            }
        }
        let max_body_bytes = raw.max_body_bytes.unwrap_or(defaults.max_body_bytes);
        if max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        let database_max_connections = raw
            .database_max_connections
            .unwrap_or(defaults.database_max_connections);
        if database_max_connections == 0 {
            return Err(invalid("database_max_connections", "must be at least 1"));
        }
        let api_key = raw.api_key.filter(|k| !k.is_empty());
        if let Some(key) = &api_key {
            if key.len() < 8 || key.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "api_key",
                    "must be at least 8 characters without white space",
                ));
            }
        }
        let default_model = raw.default_model.unwrap_or(defaults.default_model);
        if default_model.trim().is_empty() {
            return Err(invalid("default_model", "must not be empty"));
        }
        Ok(Self {
            listen,
            data_dir: raw.data_dir.unwrap_or(defaults.data_dir),
            database_url,
            database_max_connections,
            api_key,
            allow_private_network: raw.allow_private_network.unwrap_or(false),
            max_body_bytes,
            default_model,
            idempotency_ttl_hours: raw
                .idempotency_ttl_hours
                .unwrap_or(defaults.idempotency_ttl_hours),
            log: raw.log.unwrap_or(defaults.log),
            log_format: raw.log_format.unwrap_or(defaults.log_format),
            master_key: raw
                .master_key
                .map(|key| parse_master_key("master_key", &key.0))
                .transpose()?
                .flatten(),
        })
    }
}

/// Reads a master key; empty means "not set". The error never repeats the value.
fn parse_master_key(name: &str, value: &str) -> Result<Option<MasterKey>, SettingsError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    MasterKey::parse(value)
        .map(Some)
        .map_err(|e| invalid(name, e.to_string()))
}

fn parse_bool(name: &str, value: &str) -> Result<bool, SettingsError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(invalid(name, format!("{other:?} is not true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nmax_body_bytes = 4096\ndefault_model = \"file/model\"\n",
        )
        .unwrap();
        let settings = Settings::load(
            Some(&file),
            env(&[
                ("PARLEY_LISTEN", "127.0.0.1:9001"),
                ("PARLEY_ALLOW_PRIVATE_NETWORK", "true"),
                ("HOME", "/x"),
            ]),
            Overrides {
                data_dir: Some("/tmp/p".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(settings.listen.port(), 9001);
        assert_eq!(settings.max_body_bytes, 4096);
        assert_eq!(settings.default_model, "file/model");
        assert!(settings.allow_private_network);
        assert_eq!(settings.data_dir, PathBuf::from("/tmp/p"));
        let settings = Settings::load(
            Some(&file),
            [],
            Overrides {
                listen: Some("127.0.0.1:1".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(settings.listen.port(), 1);
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let err = Settings::load(
            None,
            env(&[("PARLEY_LISTEN", "nowhere")]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err = Settings::load(
            None,
            env(&[("PARLEY_ALLOW_PRIVATE_NETWORK", "maybe")]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("PARLEY_ALLOW_PRIVATE_NETWORK"),
            "{err}"
        );
        let err = Settings::load(
            None,
            env(&[("PARLEY_DATABASE_URL", "mysql://x")]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("database_url"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "lisen = 1\n").unwrap();
        assert!(matches!(
            Settings::load(Some(&file), [], Overrides::default()),
            Err(SettingsError::File { .. })
        ));
        // A syntax error on a line holding a key says where, never what.
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\napi_key = \"s3cr3t-value-x\" extra\n",
        )
        .unwrap();
        let err = Settings::load(Some(&file), [], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && !err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn master_key_is_read_validated_and_never_printed() {
        let hex_key = "8f".repeat(32);
        let settings = Settings::load(
            None,
            env(&[("PARLEY_MASTER_KEY", hex_key.as_str())]),
            Overrides::default(),
        )
        .unwrap();
        let key = settings.master_key.clone().expect("a master key");
        assert_eq!(key.to_hex(), hex_key);
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains(&hex_key) && shown.contains("***"),
            "{shown}"
        );

        let bad = "not-a-key-but-maybe-secret";
        let err = Settings::load(
            None,
            env(&[("PARLEY_MASTER_KEY", bad)]),
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("PARLEY_MASTER_KEY") && !err.contains(bad),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("parley.toml");
        std::fs::write(&file, format!("master_key = \"{}\"\n", "ab".repeat(31))).unwrap();
        let err = Settings::load(Some(&file), [], Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("master_key") && !err.contains(&"ab".repeat(31)),
            "{err}"
        );

        std::fs::write(&file, "master_key = \"\"\n").unwrap();
        let settings = Settings::load(Some(&file), [], Overrides::default()).unwrap();
        assert!(settings.master_key.is_none(), "an empty key means none");
    }
}
