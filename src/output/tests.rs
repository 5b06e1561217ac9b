//! Each kind of destination (issue 11, case 0): made in a scratch folder, never the system's
//! `/dev/null`. Devices need root (`mknod`), as CI runs; elsewhere that case is skipped.

use super::*;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

fn write_all(dest: &Path, text: &str) -> Result<()> {
    let mut out = OutFile::create(dest, PRIVATE)?;
    out.write_all(text.as_bytes())?;
    out.commit()
}

fn mknod_null(path: &Path) -> bool {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // /dev/null's numbers (1, 3), at a path in the scratch folder.
    // SAFETY: a plain system call on a NUL-terminated path.
    unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) == 0 }
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn a_character_device_is_written_in_place_and_stays_a_device() {
    let dir = tempfile::tempdir().unwrap();
    let null = dir.path().join("null");
    if !mknod_null(&null) {
        eprintln!("skipped: mknod needs root");
        return;
    }
    let before = std::fs::metadata(&null).unwrap();
    write_all(&null, "ledger_id\n1\n").unwrap();
    let after = std::fs::metadata(&null).unwrap();
    assert!(after.file_type().is_char_device(), "still a device");
    assert_eq!((before.ino(), before.rdev()), (after.ino(), after.rdev()));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

#[test]
fn a_fifo_is_written_in_place_and_its_reader_gets_everything() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    write_all(&fifo, "a,b\n1,2\n").unwrap();
    assert_eq!(reader.join().unwrap(), "a,b\n1,2\n");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn a_socket_is_written_to_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut s, &mut text).unwrap();
        text
    });
    write_all(&sock, "x\n").unwrap();
    assert_eq!(reader.join().unwrap(), "x\n");
    assert!(std::fs::metadata(&sock).unwrap().file_type().is_socket());
}

#[test]
fn a_symlink_is_followed_and_its_target_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.csv");
    std::fs::write(&real, "old\n").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink("real.csv", &link).unwrap();
    write_all(&link, "new\n").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "new\n");
    // A dangling link names where its target is created.
    let dangling = dir.path().join("dangling.csv");
    std::os::unix::fs::symlink("made.csv", &dangling).unwrap();
    write_all(&dangling, "made\n").unwrap();
    assert!(
        std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("made.csv")).unwrap(),
        "made\n"
    );
}

#[test]
fn a_regular_file_appears_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("r.csv");
    std::fs::write(&dest, "previous\n").unwrap();
    let mut out = OutFile::create(&dest, PRIVATE).unwrap();
    out.write_all(b"half").unwrap();
    drop(out);
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "previous\n");
    write_all(&dest, "whole\n").unwrap();
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "whole\n");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_folder_or_a_missing_folder_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    for dest in [
        dir.path().to_owned(),
        dir.path().join("nope/r.csv"),
        file.join("r.csv"),
    ] {
        let err = OutFile::create(&dest, PRIVATE).err().unwrap();
        assert_eq!(
            crate::error::exit_code(&err),
            crate::error::Exit::Usage,
            "{err:#}"
        );
    }
}

#[test]
fn leftovers_of_killed_runs_go_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let old = std::time::SystemTime::now() - sweep::ORPHANED_AFTER * 2;
    let make = |name: &str, when: std::time::SystemTime| {
        let p = dir.path().join(name);
        std::fs::write(&p, "x").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(when)
            .unwrap();
    };
    make(".callrecon-report-99999999-aaaaaa.tmp", old);
    make(".callrecon-report-bbbbbb.tmp", old);
    make(
        ".callrecon-summary-99999999-cccccc.tmp",
        std::time::SystemTime::now(),
    );
    make("keep.csv", old);
    make(".keep-1-a.tmp", old);
    write_all(&dir.path().join("r.csv"), "x\n").unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".callrecon-summary-99999999-cccccc.tmp",
            ".keep-1-a.tmp",
            "keep.csv",
            "r.csv"
        ]
    );
}

#[test]
fn an_output_that_is_the_database_or_another_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    std::fs::write(&db, "db").unwrap();
    let hard = dir.path().join("hard.db");
    std::fs::hard_link(&db, &hard).unwrap();
    let soft = dir.path().join("soft.csv");
    std::os::unix::fs::symlink(&db, &soft).unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let dotted = sub.join("../h.db-wal");
    for out in [db.clone(), hard, soft, dotted, dir.path().join("h.db-shm")] {
        let err = clash::check(&db, &[("--out", &out)]).unwrap_err();
        assert!(clash::is_clash(&err), "{}", out.display());
        assert_eq!(crate::error::exit_code(&err), crate::error::Exit::Usage);
    }
    let a = dir.path().join("a.csv");
    let err = clash::check(
        &db,
        &[("--out", &a), ("--numbers-out", &sub.join("../a.csv"))],
    )
    .unwrap_err();
    assert!(format!("{err}").contains("same file"), "{err}");
    clash::check(
        &db,
        &[("--out", &a), ("--numbers-out", &dir.path().join("n.csv"))],
    )
    .unwrap();
}
