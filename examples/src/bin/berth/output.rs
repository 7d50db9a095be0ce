//! Output helpers: Docker's tab-aligned tables, `--format` (Go templates, `table`,
//! `json`), human sizes and times.

use container_engine::template::Template;
use serde_json::Value;

/// Print rows as Docker does: columns padded to the widest cell plus 3 spaces.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s.push_str(&c);
            } else {
                let pad = widths[i] + 3 - c.chars().count();
                s.push_str(&c);
                s.push_str(&" ".repeat(pad));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}

/// Apply `--format` to a list of JSON rows. `table …` prints a header made from the
/// field names; `json` prints each row as JSON. Returns an error message on bad templates.
pub fn print_formatted(format: &str, rows: &[Value]) -> Result<(), String> {
    if format == "json" || format == "{{json .}}" {
        for r in rows {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        }
        return Ok(());
    }
    let (table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start().to_string()),
        None => (false, format.to_string()),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let tmpl = Template::parse(&body).map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    if table {
        // header: each {{.Field}} becomes FIELD (Docker's header names for known fields)
        let header = header_for(&body);
        lines.push(header);
    }
    for r in rows {
        lines.push(tmpl.render(r).map_err(|e| e.to_string())?);
    }
    if table {
        // align tab-separated columns
        let split: Vec<Vec<String>> = lines
            .iter()
            .map(|l| l.split('\t').map(String::from).collect())
            .collect();
        let ncol = split.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; ncol];
        for r in &split {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        for r in split {
            let mut s = String::new();
            let n = r.len();
            for (i, c) in r.into_iter().enumerate() {
                s.push_str(&c);
                if i + 1 < n {
                    s.push_str(&" ".repeat(widths[i] + 3 - c.chars().count()));
                }
            }
            println!("{}", s.trim_end());
        }
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(())
}

fn header_for(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        let inner = after[..j].trim();
        let field = inner
            .trim_start_matches('.')
            .split_whitespace()
            .next()
            .unwrap_or("");
        let name = match field {
            "ID" | "Id" => "CONTAINER ID".to_string(),
            "CreatedSince" | "CreatedAt" => "CREATED".to_string(),
            "RunningFor" => "CREATED".to_string(),
            other => {
                // CamelCase → CAMEL CASE
                let mut s = String::new();
                let mut prev_upper = true;
                for ch in other.chars() {
                    if ch.is_uppercase() && !prev_upper {
                        s.push(' ');
                    }
                    prev_upper = ch.is_uppercase();
                    s.extend(ch.to_uppercase());
                }
                s
            }
        };
        out.push_str(&name);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
}

/// Docker's `units.HumanSize` (decimal units, 3 significant digits).
pub fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.3}");
    let s = if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        // 3 significant digits
        let digits: usize = t.chars().filter(|c| c.is_ascii_digit()).count();
        if digits > 3 {
            let int_len = t.split('.').next().map(str::len).unwrap_or(0);
            let dec = 3usize.saturating_sub(int_len);
            format!("{v:.dec$}")
        } else {
            t.to_string()
        }
    } else {
        s
    };
    format!("{s}{}", units[i])
}

/// `2 minutes ago` from an RFC 3339 time.
pub fn ago(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(t) => format!(
            "{} ago",
            container_engine::model::human_duration(
                chrono::Utc::now().signed_duration_since(t.with_timezone(&chrono::Utc))
            )
        ),
        Err(_) => "N/A".into(),
    }
}
