//! Shared code of the gosync examples: a small command-line flag parser (the examples
//! take no dependency for it), a duration format, Ctrl-C handling ([`signal`]), and the
//! controller demos' workload ([`controller`]), which the threaded `controller` and the
//! tokio `async_controller` examples each drive in their own way.
//!
//! The examples themselves are under `examples/`; run one with
//! `cargo run --release -p gosync-examples --example controller -- --help`.
//!
//! # Examples
//!
//! ```
//! use gosync_examples::Flags;
//! use std::time::Duration;
//!
//! let mut flags = Flags::from_iter("demo", "A demo.", ["--workers", "8", "--duration=250ms"]);
//! let workers: usize = flags.value("workers", 4, "worker threads");
//! let duration = flags.duration("duration", Duration::from_secs(10), "how long to run");
//! let verbose = flags.switch("verbose", "print every item");
//! flags.finish();
//! assert_eq!((workers, duration, verbose), (8, Duration::from_millis(250), false));
//! ```
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![deny(unsafe_op_in_unsafe_fn, unused_must_use)]

pub mod controller;
pub mod signal;

use std::fmt::{self, Display};
use std::str::FromStr;
use std::time::Duration;

/// `--name value`, `--name=value` and `--switch` flags, declared where they are read.
///
/// Each [`value`](Flags::value), [`duration`](Flags::duration) or
/// [`switch`](Flags::switch) call declares one flag (for `--help`) and returns its value
/// or the default. [`finish`](Flags::finish) then prints the help and exits 0 if
/// `--help` was given, or prints every error (an unknown flag, a value that does not
/// parse) with the help and exits 2.
#[derive(Debug)]
pub struct Flags {
    name: String,
    about: String,
    given: Vec<(String, Option<String>, bool)>,
    help_lines: Vec<String>,
    errors: Vec<String>,
    help: bool,
}

impl Flags {
    /// The flags of this process (`std::env::args`, skipping the program name).
    pub fn from_env(name: &str, about: &str) -> Flags {
        Flags::from_iter(name, about, std::env::args().skip(1))
    }

    /// The flags in `args` (without the program name).
    pub fn from_iter<I, S>(name: &str, about: &str, args: I) -> Flags
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut flags = Flags {
            name: name.to_owned(),
            about: about.to_owned(),
            given: Vec::new(),
            help_lines: Vec::new(),
            errors: Vec::new(),
            help: false,
        };
        let mut args = args.into_iter().map(Into::into).peekable();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                flags.help = true;
                continue;
            }
            let Some(body) = arg.strip_prefix("--") else {
                flags.errors.push(format!("unexpected argument `{arg}`"));
                continue;
            };
            match body.split_once('=') {
                Some((k, v)) => flags.given.push((k.to_owned(), Some(v.to_owned()), false)),
                None => {
                    // `--name value` unless the next word is another flag (then a switch).
                    let value = match args.peek() {
                        Some(next) if !next.starts_with("--") => args.next(),
                        _ => None,
                    };
                    flags.given.push((body.to_owned(), value, false));
                }
            }
        }
        flags
    }

    fn take(&mut self, name: &str) -> Option<Option<String>> {
        let mut found = None;
        for (k, v, used) in &mut self.given {
            if k == name {
                *used = true;
                found = Some(v.clone()); // the last one given wins
            }
        }
        found
    }

    /// A flag `--name <value>` parsed with `FromStr`, or `default`.
    pub fn value<T: FromStr + Display>(&mut self, name: &str, default: T, help: &str) -> T
    where
        T::Err: Display,
    {
        self.help_lines
            .push(format!("  --{name} <{default}>\n        {help}"));
        match self.take(name) {
            None => default,
            Some(None) => {
                self.errors.push(format!("--{name} needs a value"));
                default
            }
            Some(Some(v)) => match v.parse() {
                Ok(v) => v,
                Err(e) => {
                    self.errors.push(format!("--{name} {v}: {e}"));
                    default
                }
            },
        }
    }

    /// A flag `--name <duration>` (`250ms`, `10s`, `2m`, `1500us`, `0.5s`), or `default`.
    pub fn duration(&mut self, name: &str, default: Duration, help: &str) -> Duration {
        self.value(name, DurationArg(default), help).0
    }

    /// A switch `--name` (no value): whether it was given.
    pub fn switch(&mut self, name: &str, help: &str) -> bool {
        self.help_lines.push(format!("  --{name}\n        {help}"));
        match self.take(name) {
            None => false,
            Some(None) => true,
            Some(Some(v)) => match v.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    self.errors
                        .push(format!("--{name} takes no value (got `{v}`)"));
                    false
                }
            },
        }
    }

    /// Prints the help and exits 0 on `--help`; prints the errors and exits 2 on a bad
    /// or unknown flag; otherwise returns.
    pub fn finish(mut self) {
        for (k, _, used) in &self.given {
            if !used {
                self.errors.push(format!("unknown flag --{k}"));
            }
        }
        let usage = format!(
            "{}\n\nUsage: cargo run --release -p gosync-examples --example {} -- [flags]\n\nFlags (default in <>):\n{}\n  --help\n        print this help",
            self.about,
            self.name,
            self.help_lines.join("\n")
        );
        if self.help {
            println!("{usage}");
            std::process::exit(0);
        }
        if !self.errors.is_empty() {
            for e in &self.errors {
                eprintln!("error: {e}");
            }
            eprintln!("\n{usage}");
            std::process::exit(2);
        }
    }
}

/// A duration as a flag value: parses `250ms`, `10s`, `2m`, `1500us`, `0.5s`, and
/// displays the same way ([`fmt_duration`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationArg(pub Duration);

impl FromStr for DurationArg {
    type Err = String;

    fn from_str(s: &str) -> Result<DurationArg, String> {
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{s}` has no unit (ns, us, ms, s, m)"))?;
        let (num, unit) = s.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("`{num}` is not a number"))?;
        let secs = match unit {
            "ns" => n / 1e9,
            "us" | "µs" => n / 1e6,
            "ms" => n / 1e3,
            "s" => n,
            "m" => n * 60.0,
            _ => return Err(format!("unknown unit `{unit}` (ns, us, ms, s, m)")),
        };
        Duration::try_from_secs_f64(secs)
            .map(DurationArg)
            .map_err(|e| format!("`{s}`: {e}"))
    }
}

impl Display for DurationArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_duration(self.0))
    }
}

/// A duration in the unit that reads best: `750us`, `12ms`, `1.5s`.
///
/// # Examples
///
/// ```
/// use gosync_examples::fmt_duration;
/// use std::time::Duration;
///
/// assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
/// assert_eq!(fmt_duration(Duration::from_millis(5)), "5ms");
/// assert_eq!(fmt_duration(Duration::from_micros(250)), "250us");
/// ```
pub fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let (value, unit) = if ns >= 1_000_000_000 {
        (ns as f64 / 1e9, "s")
    } else if ns >= 1_000_000 {
        (ns as f64 / 1e6, "ms")
    } else if ns >= 1_000 {
        (ns as f64 / 1e3, "us")
    } else {
        (ns as f64, "ns")
    };
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for s in ["250ms", "10s", "1.5s", "750us", "3ns"] {
            let d: DurationArg = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
        assert_eq!(
            "2m".parse::<DurationArg>().unwrap().0,
            Duration::from_secs(120)
        );
        assert!("10".parse::<DurationArg>().is_err());
        assert!("10h".parse::<DurationArg>().is_err());
        assert!("-1s".parse::<DurationArg>().is_err());
    }

    #[test]
    fn flags_parse_both_forms_and_switches() {
        let mut f = Flags::from_iter("t", "t", ["--a=1", "--b", "2", "--v", "--c", "x"]);
        assert_eq!(f.value("a", 0u32, ""), 1);
        assert_eq!(f.value("b", 0u32, ""), 2);
        assert!(f.switch("v", ""));
        assert_eq!(f.value("d", 7u32, ""), 7);
        let _: u32 = f.value("c", 0, "");
        assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
        assert!(f.errors[0].contains("--c x"));
    }
}
