//! The playbooks the agents trade: which ones are selected (`--playbook P…`, or every playbook in
//! `<home>/playbooks` with `status = "active"`), and each one's `[paper]` section — how its entries are
//! sized and protected ([`SizingRule`]). The status is read from the file itself.
//!
//! ```toml
//! [paper]
//! risk_pct = 1.0      # % of equity lost at the stop (default 1)
//! stop_pct = 3.0      # protective stop, % of the deciding close, for entries without a stop
//! target_pct = 6.0    # protective target (default: twice the stop's distance)
//! unit_step = 1       # sizes are whole multiples of this many units (default 1)
//! ```

use std::path::{Path, PathBuf};

use crate::candles::Interval;
use crate::error::{Error, IoContext, Result};
use crate::playbook::Playbook;
use crate::risk::StrategyId;
use crate::risk::sizing::SizingRule;

/// A playbook selected for trading.
#[derive(Debug, Clone)]
pub struct Selected {
    /// Its name (`[playbook] name`), also the book its orders trade in.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The playbook.
    pub playbook: Playbook,
    /// Its bar series.
    pub interval: Interval,
    /// `[paper]`: sizing and the protective bracket.
    pub rule: SizingRule,
}

impl Selected {
    /// Reads the playbook at `path` and its `[paper]` section; errors name the file and the field.
    pub fn load(path: &Path) -> Result<Selected> {
        let text = std::fs::read_to_string(path).at(path)?;
        let origin = path.display().to_string();
        let playbook = Playbook::from_toml(&text, &origin)?;
        let table: toml::Table = text
            .parse()
            .map_err(|e| Error::invalid(format!("{origin}: {e}")))?;
        let rule = match table.get("paper") {
            None => SizingRule::default(),
            Some(v) => sizing_rule(v, &origin)?,
        };
        let name = playbook.playbook.name.trim().to_string();
        StrategyId::parse(&format!("{origin}: [playbook] name"), &name)?;
        // Bad input naming the file (an unknown name was a usage error naming nothing).
        crate::strategy::lookup(&playbook.strategy.name)
            .map_err(|e| Error::invalid(format!("{origin}: [strategy] name: {e}")))?;
        let interval = playbook
            .market
            .interval
            .parse()
            .map_err(|e| Error::invalid(format!("{origin}: [market] interval: {e}")))?;
        Ok(Selected {
            name,
            path: path.to_path_buf(),
            playbook,
            interval,
            rule,
        })
    }

    /// The symbol traded.
    pub fn symbol(&self) -> &str {
        &self.playbook.market.symbol
    }
}

fn sizing_rule(v: &toml::Value, origin: &str) -> Result<SizingRule> {
    let t = v
        .as_table()
        .ok_or_else(|| Error::invalid(format!("{origin}: [paper] must be a table")))?;
    let num = |key: &str| -> Result<Option<f64>> {
        match t.get(key) {
            None => Ok(None),
            Some(x) => {
                let f = x.as_float().or_else(|| x.as_integer().map(|i| i as f64));
                match f {
                    Some(f) if f.is_finite() && f > 0.0 => Ok(Some(f)),
                    _ => Err(Error::invalid(format!(
                        "{origin}: [paper] {key} = {x}: must be a positive number"
                    ))),
                }
            }
        }
    };
    for key in t.keys() {
        if !["risk_pct", "stop_pct", "target_pct", "unit_step"].contains(&key.as_str()) {
            return Err(Error::invalid(format!(
                "{origin}: [paper] {key}: unknown key (risk_pct, stop_pct, target_pct, unit_step)"
            )));
        }
    }
    let d = SizingRule::default();
    let rule = SizingRule {
        risk_pct: num("risk_pct")?.unwrap_or(d.risk_pct),
        stop_pct: num("stop_pct")?,
        target_pct: num("target_pct")?,
        unit_step: num("unit_step")?.unwrap_or(d.unit_step),
    };
    if rule.risk_pct > 100.0 || rule.stop_pct.is_some_and(|p| p >= 100.0) {
        return Err(Error::invalid(format!(
            "{origin}: [paper] risk_pct and stop_pct must be below 100"
        )));
    }
    Ok(rule)
}

/// The file of the playbook named `n`: a path, or a name in `dir`.
pub fn named_file(dir: &Path, n: &str) -> PathBuf {
    let p = Path::new(n);
    if p.exists() {
        p.to_path_buf()
    } else {
        dir.join(format!("{n}.toml"))
    }
}

/// The playbooks to trade: the files named (a path, or a name in `dir`), or every `*.toml` of `dir`
/// whose status is `active`, in name order.
pub fn select(dir: &Path, named: &[String]) -> Result<Vec<Selected>> {
    let mut out = Vec::new();
    if !named.is_empty() {
        for n in named {
            out.push(Selected::load(&named_file(dir, n))?);
        }
    } else if dir.is_dir() {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .at(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let s = Selected::load(&p)?;
            if s.playbook.playbook.status.trim() == "active" {
                out.push(s);
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = out.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(Error::invalid(format!(
            "playbook: two selected playbooks are named '{}' (the name is the book they trade in)",
            w[0].name
        )));
    }
    Ok(out)
}
