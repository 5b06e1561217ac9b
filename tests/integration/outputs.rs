//! Where the files go (issue 11 case 0, issue 17 items 3 and 9): a device, FIFO or symlink
//! given as an output is written through, never replaced; an output that is the ledger (or
//! another output) is refused with nothing written; temporary files of killed runs are swept.

use crate::util::*;
use callrecon::simulator::SimConfig;
use callrecon::timefmt::parse_day;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

pub const FROM: &str = "2026-06-02T00:00:00Z";
pub const TO: &str = "2026-06-03T00:00:00Z";

pub fn sim(calls: usize) -> Sim {
    Sim::start(SimConfig::new(
        calls,
        3,
        parse_day("2026-06-02").unwrap(),
        1,
    ))
}

pub fn run_cmd(sim: &Sim, dir: &TestDir, verb: &str) -> Command {
    let now = sim_now(sim);
    let mut cmd = over_window(sim, dir, verb, [FROM, TO, now.as_str()]);
    if verb != "report" {
        cmd.args(["--retry-base-ms", "1"]);
    }
    cmd
}

/// A character device with /dev/null's numbers, in the test's folder; false when not root.
pub fn mknod_null(path: &Path) -> bool {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a plain system call on a NUL-terminated path.
    unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) == 0 }
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn a_device_given_as_every_output_stays_a_device() {
    let sim = sim(300);
    let dir = TestDir::new();
    let null = dir.path("null");
    if !mknod_null(&null) {
        eprintln!("skipped: mknod needs root (CI runs as root)");
        return;
    }
    let before = std::fs::metadata(&null).unwrap();
    let mut cmd = run_cmd(&sim, &dir, "run");
    for flag in ["--out", "--orphans-out", "--numbers-out", "--summary-json"] {
        cmd.arg(flag).arg(&null);
    }
    run(&mut cmd, 0);
    let after = std::fs::metadata(&null).unwrap();
    assert!(
        after.file_type().is_char_device(),
        "replaced by a regular file"
    );
    assert_eq!((before.ino(), before.rdev()), (after.ino(), after.rdev()));
    let names: Vec<_> = std::fs::read_dir(dir.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".callrecon-"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[test]
fn a_fifo_gets_the_report_in_place_and_a_symlink_is_followed() {
    let sim = sim(300);
    let dir = TestDir::new();
    let fifo = dir.path("report.fifo");
    let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    std::fs::write(dir.path("real.json"), "old").unwrap();
    std::os::unix::fs::symlink("real.json", dir.path("link.json")).unwrap();
    let mut cmd = run_cmd(&sim, &dir, "run");
    cmd.arg("--out")
        .arg(&fifo)
        .arg("--summary-json")
        .arg(dir.path("link.json"));
    run(&mut cmd, 0);
    // Before joining: a FIFO renamed over would leave the reader waiting for ever.
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "replaced"
    );
    let report = reader.join().unwrap();
    assert!(report.starts_with("ledger_id,"), "{report}");
    let link = std::fs::symlink_metadata(dir.path("link.json")).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "the link itself was replaced"
    );
    let summary = std::fs::read_to_string(dir.path("real.json")).unwrap();
    assert!(summary.contains("\"status\": \"ok\""), "{summary}");
}

#[test]
fn an_output_that_is_the_ledger_is_refused_and_nothing_is_written() {
    let sim = sim(200);
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    run(&mut run_cmd(&sim, &dir, "fetch"), 0);
    std::fs::hard_link(&db, dir.path("hard.db")).unwrap();
    std::os::unix::fs::symlink("ledger.db", dir.path("soft.csv")).unwrap();
    let cases: [(&str, std::path::PathBuf); 6] = [
        ("--out", db.clone()),
        ("--summary-json", db.clone()),
        ("--numbers-out", dir.path("hard.db")),
        ("--orphans-out", dir.path("soft.csv")),
        ("--out", dir.path("ledger.db-wal")),
        ("--summary-json", dir.path("ledger.db-shm")),
    ];
    for (flag, path) in cases {
        let before = bytes(&db);
        for verb in ["run", "report"] {
            let mut cmd = run_cmd(&sim, &dir, verb);
            cmd.arg(flag).arg(&path);
            if flag != "--out" {
                cmd.arg("--out").arg(dir.path("r.csv"));
            }
            let out = run(&mut cmd, 2);
            assert!(
                stderr(&out).contains("never overwrite the ledger"),
                "{}",
                stderr(&out)
            );
            assert_eq!(bytes(&db), before, "{verb} {flag} {}", path.display());
            assert!(!dir.path("r.csv").exists(), "nothing written");
        }
    }
    // fetch has a summary only.
    let mut cmd = run_cmd(&sim, &dir, "fetch");
    cmd.arg("--summary-json").arg(&db);
    run(&mut cmd, 2);
    // Two outputs on one file.
    let mut cmd = run_cmd(&sim, &dir, "report");
    cmd.arg("--out")
        .arg(dir.path("same.csv"))
        .arg("--numbers-out")
        .arg(dir.path("./same.csv"));
    let out = run(&mut cmd, 2);
    assert!(stderr(&out).contains("same file"), "{}", stderr(&out));
    assert!(!dir.path("same.csv").exists());
}

#[test]
fn temporary_files_of_killed_runs_are_swept_by_the_next_run() {
    let sim = sim(200);
    let dir = TestDir::new();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let leftovers = [
        ".callrecon-report-99999999-AbCdEf.tmp",
        ".callrecon-report-Q1w2E3.tmp",
        ".callrecon-summary-99999999-zzzzzz.tmp",
    ];
    let keep = ["notes.tmp", ".callrecon-report-keep.csv"];
    for name in leftovers.iter().chain(&keep) {
        let p = dir.path(name);
        std::fs::write(&p, "ledger_id,to\n1,+14155550100\n").unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(old).unwrap();
    }
    let mut cmd = run_cmd(&sim, &dir, "run");
    cmd.arg("--out")
        .arg(dir.path("r.csv"))
        .arg("--summary-json")
        .arg(dir.path("s.json"));
    run(&mut cmd, 0);
    for name in leftovers {
        assert!(!dir.path(name).exists(), "{name} left");
    }
    for name in keep {
        assert!(dir.path(name).exists(), "{name} removed");
    }
}
