//! `parley models`: pull the default models, list what is present, benchmark the embedded model.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use parley_llm::models::{
    self, FileState, ModelSpec, PullObserver, PullOptions, Pulled, Quiet, DEFAULT_MODELS,
    SMOLLM2_135M_INSTRUCT,
};
use parley_llm::{ChatMessage, ChatModel, ChatRequest, EmbeddedConfig, EmbeddedModel};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `parley models …`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the default models (SmolLM2-135M-Instruct, all-MiniLM-L6-v2) and verify their
    /// checksums; models already present and intact are left alone.
    Pull(ModelsDirArgs),
    /// Show the default models: files, sizes and checksum status.
    List(ModelsDirArgs),
    /// Measure the embedded chat model: load time, prompt and generation speed, time to first
    /// token.
    Bench(BenchArgs),
}

/// Where the models are.
#[derive(Debug, Args)]
pub struct ModelsDirArgs {
    /// Models directory [default: $PARLEY_MODELS_DIR, else $XDG_CACHE_HOME/parley/models, else
    /// ~/.cache/parley/models].
    #[arg(long)]
    models_dir: Option<PathBuf>,
}

impl ModelsDirArgs {
    fn resolve(&self) -> anyhow::Result<PathBuf> {
        match &self.models_dir {
            Some(dir) => Ok(dir.clone()),
            None => models::default_models_dir(std::env::vars()).context(
                "no models directory: pass --models-dir, or set PARLEY_MODELS_DIR or HOME",
            ),
        }
    }
}

/// `parley models bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    dir: ModelsDirArgs,
    /// Approximate length of the prompt, in tokens.
    #[arg(long, default_value_t = 300)]
    prompt_tokens: usize,
    /// Tokens to generate per run (at most).
    #[arg(long, default_value_t = 128)]
    max_tokens: u32,
    /// Measured runs (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Threads for the context [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
}

/// Runs a `parley models` command.
pub async fn run(command: ModelsCommand) -> anyhow::Result<()> {
    match command {
        ModelsCommand::Pull(args) => {
            let dir = args.resolve()?;
            tokio::task::spawn_blocking(move || pull(dir)).await?
        }
        ModelsCommand::List(args) => {
            let dir = args.resolve()?;
            tokio::task::spawn_blocking(move || list(dir)).await?
        }
        ModelsCommand::Bench(args) => bench(args).await,
    }
}

/// Pulls every default model into `dir`, with progress bars.
pub(crate) fn pull(dir: PathBuf) -> anyhow::Result<()> {
    println!("models directory: {}", dir.display());
    let progress = Progress::default();
    for spec in DEFAULT_MODELS {
        let pulled = models::pull(spec, &dir, &PullOptions::default(), &progress)
            .with_context(|| format!("pulling {}", spec.display_name))?;
        progress.clear();
        let size: u64 = spec.files.iter().map(|f| f.size).sum();
        let what = match pulled {
            Pulled::AlreadyPresent => "already present, verified",
            Pulled::Downloaded => "downloaded, verified",
        };
        println!(
            "{:<24} {:<40} {:>10}  {what}",
            spec.id,
            spec.display_name,
            HumanBytes(size).to_string()
        );
    }
    Ok(())
}

/// Whether every file of the default models is in `dir` with its recorded size (a cheap
/// check; `parley models pull` verifies checksums).
pub(crate) fn defaults_present(dir: &std::path::Path) -> bool {
    DEFAULT_MODELS.iter().all(|spec| {
        spec.files
            .iter()
            .all(|file| std::fs::metadata(spec.path(dir, file)).is_ok_and(|m| m.len() == file.size))
    })
}

fn list(dir: PathBuf) -> anyhow::Result<()> {
    println!("models directory: {}", dir.display());
    let progress = Progress::default();
    for spec in DEFAULT_MODELS {
        println!(
            "{} ({}, {}, from {})",
            spec.id,
            spec.display_name,
            spec.purpose.as_str(),
            spec.requirement()
        );
        let statuses = models::status(spec, &dir, &progress)?;
        progress.clear();
        for status in statuses {
            let state = match status.state {
                FileState::Verified => "ok (sha256 verified)".to_owned(),
                FileState::Missing => "missing".to_owned(),
                FileState::WrongSize { actual } => {
                    format!(
                        "damaged: {} instead of {}",
                        HumanBytes(actual),
                        HumanBytes(status.file.size)
                    )
                }
                FileState::Corrupt { actual } => format!("damaged: sha256 {actual}"),
            };
            println!(
                "  {:<34} {:>10}  {state}",
                status.file.name,
                HumanBytes(status.file.size).to_string()
            );
        }
    }
    Ok(())
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let dir = args.dir.resolve()?;
    let spec: &'static ModelSpec = &SMOLLM2_135M_INSTRUCT;
    let path = spec.main_path(&dir);
    let verify_started = Instant::now();
    let expected = spec.files[0].sha256;
    let check = path.clone();
    tokio::task::spawn_blocking(move || models::verify_file(&check, expected, &Quiet))
        .await?
        .context("the model is not there or damaged: run `parley models pull`")?;
    let verify_time = verify_started.elapsed();
    let config = EmbeddedConfig {
        sha256: None,
        threads_per_context: args.threads,
        context_tokens: (args.prompt_tokens as u32 + args.max_tokens + 256).max(1024),
        ..EmbeddedConfig::for_spec(spec, &dir)
    };
    let model = tokio::task::spawn_blocking(move || EmbeddedModel::load(config)).await??;
    println!(
        "model: {} ({})",
        spec.display_name,
        HumanBytes(spec.files[0].size)
    );
    println!("checksum: {:.0} ms", ms(verify_time));
    println!("load: {:.0} ms", ms(model.load_time()));

    // A prompt of about the requested length: a story to continue.
    let sentence = "The lighthouse keeper climbed the stairs each evening and watched the ships. ";
    let mut story = String::new();
    while model.count_tokens(&story) + 30 < args.prompt_tokens {
        story.push_str(sentence);
    }
    let request = |max_tokens| ChatRequest {
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..ChatRequest::new(vec![
            ChatMessage::system("You are a storyteller."),
            ChatMessage::user(format!(
                "{story}\nContinue this story at length, with many new events."
            )),
        ])
    };
    model.complete_buffered(request(4)).await?; // warm-up
    let mut runs = Vec::with_capacity(args.runs);
    for _ in 0..args.runs.max(1) {
        let outcome = model.complete_buffered(request(args.max_tokens)).await?;
        let timings = outcome.timings;
        let first = timings.first_token.unwrap_or(timings.total);
        let generated = outcome.usage.completion_tokens;
        let decode = timings.total.saturating_sub(first);
        runs.push(Run {
            prompt_tokens: outcome.usage.prompt_tokens,
            prompt_rate: f64::from(outcome.usage.prompt_tokens) / timings.prompt.as_secs_f64(),
            first_token: first,
            generated,
            generation_rate: f64::from(generated.saturating_sub(1)) / decode.as_secs_f64(),
        });
    }
    runs.sort_by(|a, b| a.generation_rate.total_cmp(&b.generation_rate));
    let median = &runs[runs.len() / 2];
    println!(
        "prompt: {} tokens, {:.0} tok/s",
        median.prompt_tokens, median.prompt_rate
    );
    println!("time to first token: {:.0} ms", ms(median.first_token));
    println!(
        "generation: {} tokens, {:.0} tok/s",
        median.generated, median.generation_rate
    );
    if let Some(rss) = peak_rss() {
        println!("peak RSS: {}", HumanBytes(rss));
    }
    Ok(())
}

struct Run {
    prompt_tokens: u32,
    prompt_rate: f64,
    first_token: Duration,
    generated: u32,
    generation_rate: f64,
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The process's peak resident set size (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Progress bars on standard error (drawn only on a terminal).
#[derive(Default)]
struct Progress {
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress {
    fn replace(&self, bar: Option<ProgressBar>) {
        let mut current = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = current.take() {
            old.finish_and_clear();
        }
        *current = bar;
    }

    fn clear(&self) {
        self.replace(None);
    }
}

impl PullObserver for Progress {
    fn step(&self, message: &str) {
        let spinner = ProgressBar::new_spinner().with_message(message.to_owned());
        spinner.enable_steady_tick(Duration::from_millis(120));
        self.replace(Some(spinner));
    }

    fn start_bytes(&self, label: &str, total: u64) {
        let bar = ProgressBar::new(total)
            .with_style(
                ProgressStyle::with_template(
                    "{msg:32} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            )
            .with_message(label.to_owned());
        self.replace(Some(bar));
    }

    fn advance_bytes(&self, count: u64) {
        if let Some(bar) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            bar.inc(count);
        }
    }

    fn finish_bytes(&self) {
        self.clear();
    }
}
