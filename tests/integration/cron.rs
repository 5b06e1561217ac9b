//! The operator files in `cron/`: the nightly wrapper run against the simulator the way cron
//! or the systemd timer runs it, and the systemd units checked by `systemd-analyze verify`.

use crate::util::*;
use callrecon::simulator::{self, SimConfig};
use callrecon::timefmt::format_utc;
use chrono::NaiveDate;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DAY: &str = "2026-05-12";

fn cron_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("cron")
        .join(name)
}

fn has(program: &str, args: &[&str], needle: &str) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(needle))
}

/// The wrapper needs util-linux `flock` and GNU `date`; without them the tests say so and pass.
fn tools_missing() -> bool {
    let missing: Vec<&str> = [
        ("flock", has("flock", &["--version"], "flock")),
        ("GNU date", has("date", &["--version"], "GNU")),
        ("bash", has("bash", &["--version"], "bash")),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return false;
    }
    eprintln!(
        "note: skipping the cron wrapper test: {} not installed",
        missing.join(", ")
    );
    true
}

/// A simulated day, its ledger, an output folder and an env file with the given token.
struct Night {
    dir: TestDir,
    sim: Sim,
    out: PathBuf,
    env_file: PathBuf,
}

impl Night {
    fn new(token: &str, mode: u32) -> Night {
        Night::with(token, mode, |_| {})
    }

    fn with(token: &str, mode: u32, tweak: impl FnOnce(&mut SimConfig)) -> Night {
        let day = NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap();
        let mut cfg = SimConfig::new(200, 7, day, 1);
        tweak(&mut cfg);
        let sim = Sim::start(cfg);
        let dir = TestDir::new();
        let db = dir.path("ledger.db");
        simulator::write_ledger(sim.sim.dataset(), &db).unwrap();
        let night = Night {
            out: dir.path("reports"),
            env_file: dir.path("callrecon.env"),
            dir,
            sim,
        };
        let text = format!(
            "# written by tests/integration/cron.rs\n\
             TWILIO_ACCOUNT_SID={}\n\
             TWILIO_AUTH_TOKEN=\"{token}\"\n\
             \n\
             CALLRECON_BASE_URL={}\n\
             CALLRECON_DB={}\n\
             CALLRECON_OUT_DIR={}\n",
            simulator::DEFAULT_ACCOUNT_SID,
            night.sim.url,
            db.display(),
            night.out.display(),
        );
        std::fs::write(&night.env_file, text).unwrap();
        std::fs::set_permissions(&night.env_file, std::fs::Permissions::from_mode(mode)).unwrap();
        night
    }

    fn day_dir(&self) -> PathBuf {
        self.out.join(DAY)
    }

    fn log(&self) -> PathBuf {
        self.out.join("callrecon.log")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn requests(&self) -> u64 {
        self.sim.sim.stats().requests
    }

    /// `bash cron/callrecon-nightly` as cron runs it, on the simulated day, with nothing from
    /// the test's own environment that the wrapper or callrecon would read.
    fn wrapper(&self) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(cron_file("callrecon-nightly"));
        for var in [
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_API_KEY",
            "TWILIO_API_SECRET",
            "CALLRECON_BASE_URL",
            "CALLRECON_DB",
            "CALLRECON_OUT_DIR",
            "CALLRECON_LOG",
            "CALLRECON_LOCK",
            "RUST_LOG",
        ] {
            cmd.env_remove(var);
        }
        let now = format_utc(self.sim.sim.config().now);
        cmd.env("CALLRECON_ENV_FILE", &self.env_file)
            .env("CALLRECON_BIN", env!("CARGO_BIN_EXE_callrecon"))
            .env("CALLRECON_DAY", DAY)
            // Blanks of every kind between words: split into arguments, never globbed.
            .env("CALLRECON_EXTRA_ARGS", format!(" --now \t{now}  -v "))
            .current_dir(self.dir.dir.path());
        cmd
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output, night: &Night) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}\n--- log\n{}",
        text(&out.stdout),
        text(&out.stderr),
        night.log_text()
    )
}

#[test]
fn a_good_night_writes_the_dated_folder_and_appends_to_the_log() {
    if tools_missing() {
        return;
    }
    let night = Night::new(simulator::DEFAULT_AUTH_TOKEN, 0o600);
    std::fs::create_dir_all(&night.out).unwrap();
    std::fs::write(night.log(), "an earlier night\n").unwrap();
    // Credentials in the caller's environment are dropped: only the env file counts.
    let out = night
        .wrapper()
        .env("TWILIO_AUTH_TOKEN", "not-the-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out, &night));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "quiet on success: {}",
        show(&out, &night)
    );

    let dir = night.day_dir();
    for name in ["report.csv", "orphans.csv", "numbers.csv"] {
        assert!(
            dir.join(name).is_file(),
            "{name} missing: {}",
            show(&out, &night)
        );
    }
    assert!(!read_report(&dir.join("report.csv")).is_empty());
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the dated folder is private");

    let log = night.log_text();
    assert!(
        log.starts_with("an earlier night\n"),
        "appended, not replaced: {log}"
    );
    let start = format!("start day={DAY} window={DAY}T00:00:00Z..2026-05-13T00:00:00Z");
    assert!(log.contains(&start), "{log}");
    assert!(
        log.contains("--now 2026-05-13T00:00:00Z -v"),
        "extra args split: {log}"
    );
    assert!(
        log.contains("callrecon: report written to"),
        "callrecon's output logged: {log}"
    );
    assert!(
        log.trim_end()
            .ends_with(&format!("end day={DAY} exit=0 (ok)")),
        "{log}"
    );
    assert!(night.requests() > 0);
}

#[test]
fn an_env_file_others_can_read_is_refused_before_any_request() {
    if tools_missing() {
        return;
    }
    let night = Night::new(simulator::DEFAULT_AUTH_TOKEN, 0o644);
    let out = night.wrapper().output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out, &night));
    let err = text(&out.stderr);
    assert!(
        err.contains(&night.env_file.display().to_string()),
        "names the file: {err}"
    );
    assert!(err.contains("mode 644"), "{err}");
    assert_eq!(night.requests(), 0, "refused before any request");
    assert!(!night.day_dir().exists() && !night.log().exists());

    // Group-readable is no better; owner-only read works.
    for (mode, want) in [(0o640, 2), (0o400, 0)] {
        std::fs::set_permissions(&night.env_file, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = night.wrapper().output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(want),
            "mode {mode:o}: {}",
            show(&out, &night)
        );
    }

    // A missing env file is refused the same way.
    let missing = night.dir.path("nowhere.env");
    let out = night
        .wrapper()
        .env("CALLRECON_ENV_FILE", &missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out, &night));
    assert!(text(&out.stderr).contains(&missing.display().to_string()));
}

#[test]
fn a_held_lock_exits_75_at_once() {
    if tools_missing() {
        return;
    }
    let night = Night::new(simulator::DEFAULT_AUTH_TOKEN, 0o600);
    std::fs::create_dir_all(&night.out).unwrap();
    // The wrapper's default lock, held by this process (flock(2), as `flock` takes it).
    let lock = std::fs::File::create(night.out.join("callrecon-nightly.lock")).unwrap();
    lock.lock().unwrap();

    let started = Instant::now();
    let out = night.wrapper().output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(75), "{}", show(&out, &night));
    assert!(
        took < Duration::from_secs(10),
        "did not wait for the lock: {took:?}"
    );
    assert_eq!(night.requests(), 0, "callrecon never started");
    let log = night.log_text();
    assert!(log.contains("another run holds"), "{log}");
    assert!(
        log.contains(&format!("end day={DAY} exit=75 (lock held by another run)")),
        "{log}"
    );
    assert!(
        text(&out.stderr).contains("exit 75"),
        "{}",
        show(&out, &night)
    );
    assert!(!night.day_dir().join("report.csv").exists());

    // Released, the next run goes ahead.
    drop(lock);
    let out = night.wrapper().output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out, &night));
}

#[test]
fn callrecon_exit_codes_pass_through_and_are_logged() {
    if tools_missing() {
        return;
    }
    let night = Night::new("wrong-token", 0o600);
    let out = night.wrapper().output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out, &night));
    assert!(night.sim.sim.stats().responses_401 > 0);
    let log = night.log_text();
    assert!(log.contains("HTTP 401"), "callrecon's error logged: {log}");
    assert!(
        log.contains(&format!(
            "end day={DAY} exit=3 (Twilio authentication or permission error)"
        )),
        "{log}"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("day {DAY}: exit 3")),
        "summary on stderr for cron's mail: {err}"
    );
    assert!(err.contains(&night.log().display().to_string()), "{err}");
}

#[test]
fn sigterm_to_the_wrapper_stops_callrecon_cleanly_and_is_logged() {
    if tools_missing() {
        return;
    }
    // Slow answers, so that the run is still going when the signal comes.
    let night = Night::with(simulator::DEFAULT_AUTH_TOKEN, 0o600, |cfg| {
        cfg.faults.latency = Duration::from_millis(300);
    });
    let mut child = night
        .wrapper()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while night.requests() == 0 {
        assert!(
            Instant::now() < deadline,
            "callrecon never asked: {}",
            night.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The wrapper alone is signalled, as `kill PID` or a timeout would: it passes it on.
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let log = night.log_text();
    assert_eq!(status.code(), Some(143), "{log}");
    assert!(
        log.lines()
            .any(|l| !l.contains("callrecon-nightly[") && l.contains("SIGTERM")),
        "callrecon itself saw the signal: {log}"
    );
    assert!(
        log.trim_end().ends_with(&format!(
            "end day={DAY} exit=143 (terminated (SIGTERM), state left resumable)"
        )),
        "{log}"
    );
}

#[test]
fn the_example_env_file_parses_and_unknown_keys_are_refused() {
    if tools_missing() {
        return;
    }
    let dir = TestDir::new();
    let env_file = dir.path("callrecon.env");
    std::fs::copy(cron_file("callrecon.env.example"), &env_file).unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrapper = |bin: &Path| {
        let mut cmd = Command::new("bash");
        cmd.arg(cron_file("callrecon-nightly"))
            .env("CALLRECON_ENV_FILE", &env_file)
            .env("CALLRECON_BIN", bin)
            .env_remove("CALLRECON_DB")
            .env_remove("CALLRECON_OUT_DIR")
            .env_remove("CALLRECON_LOG")
            .env_remove("CALLRECON_LOCK");
        cmd
    };
    // Every line is accepted: the wrapper gets as far as looking for the binary.
    let nowhere = dir.path("no-such-callrecon");
    let out = wrapper(&nowhere).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no-such-callrecon' not found"), "{err}");

    let mut example = std::fs::read_to_string(&env_file).unwrap();
    example.push_str("CALLRECON_OUTDIR=/tmp/typo\n");
    std::fs::write(&env_file, example).unwrap();
    let out = wrapper(&nowhere).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unknown setting CALLRECON_OUTDIR"), "{err}");
}

#[test]
fn systemd_units_verify() {
    let present = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!("note: skipping systemd-analyze verify: systemd-analyze is not installed");
        return;
    }
    // verify insists that ExecStart= exists: point it at the repository's wrapper, nothing else.
    let dir = TestDir::new();
    let service = std::fs::read_to_string(cron_file("callrecon.service")).unwrap();
    let installed = "ExecStart=/usr/local/bin/callrecon-nightly\n";
    assert!(service.contains(installed), "{service}");
    let local = format!("ExecStart={}\n", cron_file("callrecon-nightly").display());
    std::fs::write(
        dir.path("callrecon.service"),
        service.replace(installed, &local),
    )
    .unwrap();
    std::fs::copy(cron_file("callrecon.timer"), dir.path("callrecon.timer")).unwrap();

    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path("callrecon.service"))
        .arg(dir.path("callrecon.timer"))
        .output()
        .unwrap();
    // Unknown keys are only warnings: any output at all is a failure here.
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "systemd-analyze verify: exit {:?}\n{}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn a_configuration_that_names_its_time_zone_decides_the_window_and_the_log_says_which() {
    if tools_missing() {
        return;
    }
    let night = Night::new(simulator::DEFAULT_AUTH_TOKEN, 0o600);
    // callrecon's own ./callrecon.toml (the wrapper runs in the test's folder).
    std::fs::write(night.dir.path("callrecon.toml"), "tz = \"Europe/Berlin\"\n").unwrap();
    let out = night.wrapper().output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out, &night));
    let log = night.log_text();
    assert!(
        log.contains(&format!(
            "start day={DAY} window={DAY} in the time zone of callrecon.toml"
        )),
        "{log}"
    );
    assert!(
        !log.contains("--from"),
        "the wrapper passed its own UTC window: {log}"
    );
    assert!(
        log.contains(&format!(
            "(window 2026-05-11T22:00:00Z to 2026-05-12T22:00:00Z, {DAY} in Europe/Berlin)"
        )),
        "callrecon says the window it ran: {log}"
    );
}

#[test]
fn the_simulator_recipe_creates_its_folder_before_writing_the_ledger_there() {
    let readme = std::fs::read_to_string(cron_file("README.md")).unwrap();
    let recipe = readme
        .split("## Trying it against the simulator")
        .nth(1)
        .unwrap();
    let mkdir = recipe.find("mkdir -p").expect("the recipe creates /tmp/cr");
    let simulate = recipe.find("--ledger-out /tmp/cr/").unwrap();
    assert!(mkdir < simulate, "{recipe}");
}
