//! `logs`: the json-file logs of a project's containers, each line prefixed with its
//! container; following them all at once, one thread per container.

use super::{ComposeRunner, LogsOptions};
use crate::error::{Error, Result};
use std::io::Write;
use std::sync::Mutex;

impl ComposeRunner<'_> {
    /// `docker compose logs`: the logs of the replica containers of `opts.services`,
    /// each line prefixed with its container name. Without `follow`, container after
    /// container; with `follow`, all at once as lines arrive, until every container
    /// has stopped.
    pub fn logs(
        &self,
        opts: &LogsOptions,
        out: &mut (dyn Write + Send),
        err: &mut (dyn Write + Send),
    ) -> Result<()> {
        let containers: Vec<String> = self
            .replicas(&opts.services)?
            .iter()
            .map(|r| r.short_name().to_string())
            .collect();
        let width = containers.iter().map(|c| c.len()).max().unwrap_or(0);
        let prefix = |c: &str| {
            if opts.prefix {
                format!("{c:<width$} | ")
            } else {
                String::new()
            }
        };
        let lo = crate::logs::LogsOptions {
            follow: opts.follow,
            tail: opts.tail,
            timestamps: opts.timestamps,
            ..Default::default()
        };
        let out = Mutex::new(out);
        let err = Mutex::new(err);
        let one = |c: &str| -> Result<()> {
            let mut o = LinePrefixer::new(prefix(c), &out);
            let mut e = LinePrefixer::new(prefix(c), &err);
            let r = self.engine.logs(c, &lo, &mut o, &mut e);
            o.finish();
            e.finish();
            r
        };
        if !opts.follow {
            for c in &containers {
                one(c)?;
            }
            return Ok(());
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = containers.iter().map(|c| scope.spawn(|| one(c))).collect();
            let mut first = Ok(());
            for h in handles {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(Error::Conflict("a log follower panicked".into())));
                if first.is_ok() {
                    first = r;
                }
            }
            first
        })
    }
}

/// A writer that prefixes every complete line and writes it whole to a shared sink, so
/// lines of several followed containers never interleave mid-line.
struct LinePrefixer<'s, W: Write + ?Sized> {
    prefix: String,
    pending: Vec<u8>,
    sink: &'s Mutex<&'s mut W>,
}

impl<'s, W: Write + ?Sized> LinePrefixer<'s, W> {
    fn new(prefix: String, sink: &'s Mutex<&'s mut W>) -> Self {
        LinePrefixer {
            prefix,
            pending: Vec::new(),
            sink,
        }
    }

    fn emit(&mut self, line: &[u8]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(self.prefix.len() + line.len() + 1);
        buf.extend_from_slice(self.prefix.as_bytes());
        buf.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            buf.push(b'\n');
        }
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        sink.write_all(&buf)?;
        sink.flush()
    }

    /// Write out a last line without a newline.
    fn finish(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let _ = self.emit(&rest);
        }
    }
}

impl<W: Write + ?Sized> Write for LinePrefixer<'_, W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(data);
        while let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            self.emit(&line)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixer_writes_whole_prefixed_lines() {
        let mut buf: Vec<u8> = Vec::new();
        {
            let sink = Mutex::new(&mut buf);
            let mut w = LinePrefixer::new("web-1 | ".into(), &sink);
            w.write_all(b"hel").expect("write");
            w.write_all(b"lo\nwor").expect("write");
            w.write_all(b"ld\nlast").expect("write");
            w.finish();
        }
        assert_eq!(
            String::from_utf8_lossy(&buf),
            "web-1 | hello\nweb-1 | world\nweb-1 | last\n"
        );
    }
}
