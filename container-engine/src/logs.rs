//! Docker's json-file log driver: the writer (run by the monitor) with size rotation, and
//! the reader behind `logs --tail --since --until -t -f`.
//!
//! One JSON object per line: `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`.
//! Rotated files are `<log>.1` (newest) … `<log>.<max-file − 1>` (oldest).

use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of a json-file log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogEntry {
    /// The text, with its newline when it had one.
    pub log: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 time with nanoseconds.
    pub time: String,
}

/// Longest line kept as one entry; longer output is split, like Docker's 16 KiB.
const MAX_LINE: usize = 16 * 1024;

/// Writes json-file entries, rotating by size.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    /// Open (append) the log at `path`; `max_size` in bytes (None: never rotate),
    /// `max_file` the number of files kept (≥ 1).
    pub fn open(path: &Path, max_size: Option<u64>, max_file: u32) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ctx("open log", path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Open with the `max-size`/`max-file` options of `--log-opt`.
    pub fn with_options(
        path: &Path,
        opts: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self> {
        let max_size = match opts.get("max-size") {
            Some(s) => Some(crate::options::parse_bytes(s)? as u64),
            None => None,
        };
        let max_file = match opts.get("max-file") {
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| Error::Invalid(format!("invalid max-file {s:?}")))?,
            None => 1,
        };
        Self::open(path, max_size, max_file)
    }

    /// Feed raw output of `stream`: complete lines become entries, a trailing partial
    /// line waits for more (or for [`LogWriter::flush_partial`]).
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<()> {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl + 1;
            self.emit(stream, &buf[start..end])?;
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.emit(stream, &buf[start..start + MAX_LINE])?;
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[idx] = buf;
        Ok(())
    }

    /// Write out whatever partial lines remain (at exit of the container).
    pub fn flush_partial(&mut self) -> Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let buf = std::mem::take(&mut self.partial[stream as usize]);
            if !buf.is_empty() {
                self.emit(stream, &buf)?;
            }
        }
        Ok(())
    }

    fn emit(&mut self, stream: Stream, line: &[u8]) -> Result<()> {
        let entry = LogEntry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.as_str().into(),
            time: crate::model::now_rfc3339(),
        };
        let mut json = serde_json::to_vec(&entry).map_err(|e| Error::Corrupt {
            path: self.path.clone(),
            source: e,
        })?;
        json.push(b'\n');
        if let Some(max) = self.max_size
            && self.size > 0
            && self.size + json.len() as u64 > max
        {
            self.rotate()?;
        }
        self.file.write_all(&json).ctx("write log", &self.path)?;
        self.size += json.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> Result<()> {
        if self.max_file <= 1 {
            self.file.set_len(0).ctx("truncate log", &self.path)?;
            self.file
                .seek(SeekFrom::Start(0))
                .ctx("seek log", &self.path)?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..self.max_file - 1).rev() {
            let from = rotated(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, rotated(&self.path, n + 1)).ctx("rotate log", &from)?;
            }
        }
        std::fs::rename(&self.path, rotated(&self.path, 1)).ctx("rotate log", &self.path)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .ctx("open log", &self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// What `logs` prints.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Keep printing new lines until the container stops.
    pub follow: bool,
    /// Only the last N lines (None: all).
    pub tail: Option<usize>,
    /// Only lines at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only lines before this time.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Prefix each line with its time.
    pub timestamps: bool,
}

/// Parse `--since`/`--until`: RFC 3339, a Unix timestamp, or a duration ago (`10m`, `1h30m`).
pub fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(secs) = s.parse::<f64>() {
        let nanos = (secs * 1e9) as i64;
        return Ok(chrono::DateTime::from_timestamp_nanos(nanos));
    }
    if let Ok(d) = humantime::parse_duration(s) {
        let d = chrono::Duration::from_std(d)
            .map_err(|_| Error::Invalid(format!("duration out of range: {s}")))?;
        return chrono::Utc::now()
            .checked_sub_signed(d)
            .ok_or_else(|| Error::Invalid(format!("duration out of range: {s}")));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(Error::Invalid(format!(
        "invalid value for \"since\": failed to parse value as time or duration: \"{s}\""
    )))
}

/// Read all entries of a log (rotated files first), oldest first.
pub fn read_entries(path: &Path) -> Result<Vec<LogEntry>> {
    let mut files = Vec::new();
    let mut n = 1;
    loop {
        let p = rotated(path, n);
        if !p.exists() {
            break;
        }
        files.push(p);
        n += 1;
    }
    files.reverse();
    files.push(path.to_path_buf());
    let mut out = Vec::new();
    for f in files {
        let file = match File::open(&f) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("open log", &f, e)),
        };
        for line in BufReader::new(file).lines() {
            let line = line.ctx("read log", &f)?;
            // A torn last line (writer mid-write) is skipped, never fatal.
            if let Ok(e) = serde_json::from_str::<LogEntry>(&line) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

fn entry_time(e: &LogEntry) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(&e.time)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn selected(e: &LogEntry, opts: &LogsOptions) -> bool {
    let t = entry_time(e);
    if let (Some(since), Some(t)) = (opts.since, t)
        && t < since
    {
        return false;
    }
    if let (Some(until), Some(t)) = (opts.until, t)
        && t >= until
    {
        return false;
    }
    true
}

fn print_entry(e: &LogEntry, opts: &LogsOptions, out: &mut dyn Write, err: &mut dyn Write) {
    let w: &mut dyn Write = if e.stream == "stderr" { err } else { out };
    let _ = if opts.timestamps {
        write!(w, "{} {}", e.time, e.log)
    } else {
        write!(w, "{}", e.log)
    };
}

/// Print the log at `path` per `opts` to `out`/`err` (stdout and stderr lines kept apart).
/// With `follow`, keeps printing new lines until `still_running()` says no.
pub fn print_logs(
    path: &Path,
    opts: &LogsOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
    still_running: &mut dyn FnMut() -> bool,
) -> Result<()> {
    let entries: Vec<LogEntry> = read_entries(path)?
        .into_iter()
        .filter(|e| selected(e, opts))
        .collect();
    let skip = match opts.tail {
        Some(n) => entries.len().saturating_sub(n),
        None => 0,
    };
    for e in &entries[skip..] {
        print_entry(e, opts, out, err);
    }
    let _ = out.flush();
    let _ = err.flush();
    if !opts.follow {
        return Ok(());
    }
    // Follow: read the current file from its end, reopen on rotation.
    let mut file = File::open(path).ctx("open log", path)?;
    let mut pos = file.seek(SeekFrom::End(0)).ctx("seek log", path)?;
    let mut ino = inode(&file);
    let mut pending = String::new();
    loop {
        let mut reader = BufReader::new(&file);
        let mut got = false;
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).ctx("read log", path)?;
            if n == 0 {
                break;
            }
            pos += n as u64;
            pending.push_str(&line);
            if pending.ends_with('\n') {
                if let Ok(e) = serde_json::from_str::<LogEntry>(pending.trim_end())
                    && selected(&e, opts)
                {
                    print_entry(&e, opts, out, err);
                    got = true;
                }
                pending.clear();
            }
        }
        if got {
            let _ = out.flush();
            let _ = err.flush();
        }
        if !still_running() {
            // one last drain happened above; done
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::MetadataExt;
            if Some(meta.ino()) != ino || meta.len() < pos {
                file = File::open(path).ctx("open log", path)?;
                ino = inode(&file);
                pos = 0;
            } else {
                file.seek(SeekFrom::Start(pos)).ctx("seek log", path)?;
            }
        }
        if let Some(until) = opts.until
            && chrono::Utc::now() >= until
        {
            return Ok(());
        }
    }
}

fn inode(f: &File) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    f.metadata().ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_lines_and_rotates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&p, Some(300), 3).expect("open");
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .expect("write");
        }
        w.write(Stream::Stderr, b"err partial").expect("write");
        w.flush_partial().expect("flush");
        assert!(rotated(&p, 1).exists());
        assert!(rotated(&p, 2).exists());
        assert!(!rotated(&p, 3).exists());
        let entries = read_entries(&p).expect("read");
        // only the last files are kept, in order
        let last = entries.last().expect("entries");
        assert_eq!(last.log, "err partial");
        assert_eq!(last.stream, "stderr");
        let nums: Vec<usize> = entries
            .iter()
            .filter_map(|e| e.log.strip_prefix("line ")?.trim().parse().ok())
            .collect();
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1));
        assert_eq!(*nums.last().expect("nums"), 19);
    }

    #[test]
    fn tail_and_streams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("log");
        let mut w = LogWriter::open(&p, None, 1).expect("open");
        w.write(Stream::Stdout, b"a\nb\nc\n").expect("w");
        w.write(Stream::Stderr, b"e\n").expect("w");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let opts = LogsOptions {
            tail: Some(2),
            ..Default::default()
        };
        print_logs(&p, &opts, &mut o, &mut e, &mut || false).expect("print");
        assert_eq!(String::from_utf8_lossy(&o), "c\n");
        assert_eq!(String::from_utf8_lossy(&e), "e\n");
        let future = LogsOptions {
            since: Some(chrono::Utc::now() + chrono::Duration::seconds(60)),
            ..Default::default()
        };
        let (mut o, mut e) = (Vec::new(), Vec::new());
        print_logs(&p, &future, &mut o, &mut e, &mut || false).expect("print");
        assert!(o.is_empty() && e.is_empty());
    }

    #[test]
    fn long_lines_split() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("log");
        let mut w = LogWriter::open(&p, None, 1).expect("open");
        w.write(Stream::Stdout, &vec![b'x'; MAX_LINE + 10])
            .expect("w");
        w.flush_partial().expect("f");
        let entries = read_entries(&p).expect("read");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].log.len(), MAX_LINE);
    }

    #[test]
    fn times() {
        assert!(parse_time("2024-01-02T03:04:05Z").is_ok());
        assert!(parse_time("10m").expect("t") < chrono::Utc::now());
        assert!(parse_time("1700000000").is_ok());
        assert!(parse_time("yesterday-ish").is_err());
    }
}
