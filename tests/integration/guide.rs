//! The README's operator's guide, run as written: every `callrecon` line of its shell blocks
//! runs (through bash, with the built binary first on PATH) and must succeed, its `export`
//! lines set the environment of the lines after them, and its TOML blocks are written where
//! their first comment says. System paths are moved into a temporary folder; the simulator
//! stands in for Twilio in the real-account step (`CALLRECON_BASE_URL`, which the
//! environment layer puts over the file).

use crate::util::*;
use callrecon::simulator::{DEFAULT_AUTH_TOKEN, SimConfig};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Block {
    lang: String,
    lines: Vec<String>,
}

struct Section {
    title: String,
    blocks: Vec<Block>,
}

/// The `### ` sections of `## Operator's guide`, with their fenced blocks.
fn guide() -> Vec<Section> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("\n## Operator's guide")
        .expect("the README has the guide");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    let mut sections: Vec<Section> = Vec::new();
    let mut block: Option<Block> = None;
    for raw in rest[..end].lines() {
        let line = raw.trim_start();
        if let Some(title) = raw.strip_prefix("### ") {
            sections.push(Section {
                title: title.to_owned(),
                blocks: Vec::new(),
            });
        } else if let Some(fence) = line.strip_prefix("```") {
            match block.take() {
                Some(done) => sections.last_mut().unwrap().blocks.push(done),
                None => {
                    block = Some(Block {
                        lang: fence.trim().to_owned(),
                        lines: Vec::new(),
                    })
                }
            }
        } else if let Some(b) = &mut block {
            b.lines.push(line.to_owned());
        }
    }
    sections
}

/// Where the guide's system paths go in the test.
fn moved(root: &Path) -> Vec<(&'static str, PathBuf)> {
    let pairs = [
        ("/etc/callrecon/", "etc/callrecon/"),
        ("/var/lib/app/", "var/lib/app/"),
        ("/var/lib/callrecon/", "var/lib/callrecon/"),
        ("/etc/bash_completion.d/", "etc/bash_completion.d/"),
        ("/usr/local/share/man/man1", "man1"),
    ];
    pairs
        .iter()
        .map(|(from, to)| {
            let path = root.join(to);
            std::fs::create_dir_all(&path).unwrap();
            (*from, path)
        })
        .collect()
}

fn substitute(text: &str, paths: &[(&str, PathBuf)], vars: &BTreeMap<&str, String>) -> String {
    let mut out = text.to_owned();
    for (from, to) in paths {
        let mut to = to.display().to_string();
        if from.ends_with('/') {
            to.push('/');
        }
        out = out.replace(from, &to);
    }
    for (k, v) in vars {
        out = out.replace(k, v);
    }
    out
}

/// Runs one section; returns how many `callrecon` lines it ran.
fn run_section(
    section: &Section,
    root: &Path,
    env: &mut BTreeMap<String, String>,
    vars: &mut BTreeMap<&str, String>,
) -> usize {
    let paths = moved(root);
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_callrecon")).parent().unwrap();
    let path_var = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut children: Vec<Child> = Vec::new();
    let mut ran = 0;
    for block in &section.blocks {
        match block.lang.as_str() {
            "toml" => {
                let target = block.lines[0].trim_start_matches('#').trim();
                let text = substitute(&block.lines.join("\n"), &paths, vars);
                std::fs::write(substitute(target, &paths, vars), text).unwrap();
            }
            "sh" => {
                for line in &block.lines {
                    let line = line.trim();
                    if let Some(assignments) = line.strip_prefix("export ") {
                        for pair in substitute(assignments, &paths, vars).split_whitespace() {
                            let (k, v) = pair.split_once('=').unwrap();
                            env.insert(k.to_owned(), v.to_owned());
                        }
                        continue;
                    }
                    if !line.starts_with("callrecon ") {
                        continue;
                    }
                    let line = substitute(line, &paths, vars);
                    ran += 1;
                    if line.starts_with("callrecon simulate") {
                        let (child, url) = simulate(&line, &work);
                        vars.insert("http://127.0.0.1:PORT", url);
                        children.push(child);
                        continue;
                    }
                    let mut bash = Command::new("bash");
                    bash.args(["-euo", "pipefail", "-c", &line])
                        .current_dir(&work)
                        .env_clear()
                        .env("PATH", &path_var)
                        .env("HOME", root)
                        .envs(env.iter());
                    let out = bash.output().unwrap();
                    assert_eq!(
                        out.status.code(),
                        Some(0),
                        "{}: `{line}`\n--- stdout\n{}\n--- stderr\n{}",
                        section.title,
                        String::from_utf8_lossy(&out.stdout),
                        stderr(&out)
                    );
                }
            }
            _ => {}
        }
    }
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    ran
}

/// Starts the guide's simulator line as a background process; returns it and its address.
fn simulate(line: &str, work: &Path) -> (Child, String) {
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_callrecon"))
        .args(&args)
        .current_dir(work)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    // It prints more after its address; a closed pipe would end it.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("simulate printed: {first}"))
        .to_owned();
    (child, url)
}

#[test]
fn every_command_of_the_operators_guide_runs() {
    let sections = guide();
    let titles: Vec<&str> = sections.iter().map(|s| s.title.as_str()).collect();
    assert!(
        titles.contains(&"First run on the simulator")
            && titles.contains(&"First run on a real account"),
        "{titles:?}"
    );
    // The real account is a simulator too, with the guide's placeholder SID, on yesterday's
    // UTC day, as the guide's `window = "yesterday"` will ask for.
    let yesterday = chrono::Utc::now().date_naive().pred_opt().unwrap();
    let mut cfg = SimConfig::new(300, 3, yesterday, 1);
    cfg.account_sid = "AC00000000000000000000000000000000".to_owned();
    let real = Sim::start(cfg);
    let mut total = 0;
    for section in &sections {
        let root = TestDir::new();
        let root = root.dir.path();
        // The simulators are local: no need to pace requests as for Twilio.
        let mut env = BTreeMap::from([("CALLRECON_RPS".to_owned(), "2000".to_owned())]);
        let mut vars: BTreeMap<&str, String> = BTreeMap::new();
        if section.title == "First run on a real account" {
            env.insert("CALLRECON_BASE_URL".into(), real.url.clone());
            // What the guide's first step asks the operator to put in place.
            let paths = moved(root);
            let at = |prefix: &str, name: &str| {
                let (_, dir) = paths.iter().find(|(p, _)| *p == prefix).unwrap();
                dir.join(name)
            };
            let token = at("/etc/callrecon/", "main.token");
            std::fs::write(&token, format!("{DEFAULT_AUTH_TOKEN}\n")).unwrap();
            let ledger = at("/var/lib/app/", "ledger.db");
            callrecon::simulator::write_ledger(real.sim.dataset(), &ledger).unwrap();
            let n = run_section(section, root, &mut env, &mut vars);
            let summary = at("/var/lib/callrecon/", "summary.json");
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
            assert_eq!(json["status"], "ok", "{json}");
            assert!(at("/var/lib/callrecon/", "report.csv").exists());
            total += n;
            continue;
        }
        total += run_section(section, root, &mut env, &mut vars);
    }
    assert!(total >= 9, "ran {total} command(s) of the guide");
    assert!(
        real.sim.stats().requests > 0,
        "the real-account step reached its stand-in"
    );
}
