//! Trades given as data: one JSON object per line (`risk-check --stdin`, and the coming execution
//! queue), parsed into a validated [`TradeRequest`] with errors that name the field.

use serde_json::{Map, Value};

use super::strategy_id::StrategyId;
use super::validator::{TradeRequest, parse_number};
use crate::error::{Error, Result};
use crate::trade::Side;

/// Fields a JSON trade line may have.
pub const LINE_FIELDS: [&str; 10] = [
    "id", "symbol", "side", "entry", "stop", "target", "size", "lot_size", "strategy", "equity",
];

impl TradeRequest {
    /// Parses one JSON trade line: `symbol`, `side`, `entry`, `stop`, `target`, `size` are required;
    /// `lot_size` (default 1), `strategy`, `equity` and the caller's `id` (any JSON value, returned
    /// as given so it can be echoed back) are optional. Numbers may be JSON numbers or numeric strings.
    /// The trade is validated; every error is one line naming the field.
    pub fn from_json_line(line: &str) -> Result<(TradeRequest, Option<Value>)> {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| Error::invalid(format!("not a JSON object: {e}")))?;
        let Value::Object(obj) = v else {
            return Err(Error::invalid("not a JSON object"));
        };
        if let Some(k) = obj.keys().find(|k| !LINE_FIELDS.contains(&k.as_str())) {
            return Err(Error::invalid(format!(
                "{k}: unknown field; expected {}",
                LINE_FIELDS.join(", ")
            )));
        }
        let required = |name: &str| -> Result<f64> {
            json_number(&obj, name)?.ok_or_else(|| Error::invalid(format!("{name}: missing")))
        };
        let trade = TradeRequest {
            symbol: json_text(&obj, "symbol", true)?.unwrap_or_default(),
            side: Side::parse_field("side", &json_text(&obj, "side", true)?.unwrap_or_default())?,
            entry: required("entry")?,
            stop: required("stop")?,
            target: required("target")?,
            size: required("size")?,
            lot_size: json_number(&obj, "lot_size")?.unwrap_or(1.0),
            strategy: json_text(&obj, "strategy", false)?
                .map(|s| StrategyId::parse("strategy", &s))
                .transpose()?,
            equity: json_number(&obj, "equity")?,
        };
        trade.validate()?;
        Ok((trade, obj.get("id").cloned()))
    }

    /// The caller's `id` of a trade line, when the line is a JSON object that has one — also when the
    /// rest of the line is bad, so an error can be matched to the line that caused it.
    pub fn line_id(line: &str) -> Option<Value> {
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(mut obj)) => obj.remove("id"),
            _ => None,
        }
    }
}

/// A text field; a required one errors when missing or null.
fn json_text(obj: &Map<String, Value>, name: &str, required: bool) -> Result<Option<String>> {
    match obj.get(name) {
        None | Some(Value::Null) if required => Err(Error::invalid(format!("{name}: missing"))),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::invalid(format!(
            "{name}: expected a string, got {other}"
        ))),
    }
}

/// A number field: a JSON number or a numeric string; `None` when missing or null.
pub fn json_number(obj: &Map<String, Value>, name: &str) -> Result<Option<f64>> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("{name}: '{n}' is not a number"))),
        Some(Value::String(s)) => parse_number(name, s).map(Some),
        Some(other) => Err(Error::invalid(format!("{name}: '{other}' is not a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_parse_with_field_named_errors() {
        let (t, id) = TradeRequest::from_json_line(
            r#"{"id":7,"symbol":"X","side":"short","entry":100,"stop":"101","target":98,"size":0.1}"#,
        )
        .unwrap();
        assert_eq!(t.side, Side::Short);
        assert_eq!(t.stop, 101.0);
        assert_eq!(t.lot_size, 1.0);
        assert_eq!(id, Some(serde_json::json!(7)));
        for (line, want) in [
            (
                r#"{"symbol":"X","side":"long","entry":100,"stop":99,"target":102}"#,
                "size: missing",
            ),
            (
                r#"{"symbol":"X","side":"long","entry":100,"stop":99,"target":102,"size":null}"#,
                "size: missing",
            ),
            (
                r#"{"side":"long","entry":100,"stop":99,"target":102,"size":1}"#,
                "symbol: missing",
            ),
            (
                r#"{"symbol":"X","side":"long","entry":100,"stop":99,"target":102,"size":"abc"}"#,
                "size: 'abc' is not a number",
            ),
            (
                r#"{"symbol":"X","side":"long","entry":100,"stop":99,"target":102,"size":[1]}"#,
                "size: '[1]' is not a number",
            ),
            (
                r#"{"symbol":7,"side":"long","entry":100,"stop":99,"target":102,"size":1}"#,
                "symbol: expected a string, got 7",
            ),
            (
                r#"{"symbol":"X","side":"up","entry":100,"stop":99,"target":102,"size":1}"#,
                "side: unknown side 'up'",
            ),
            (
                r#"{"symbol":"X","side":"long","entry":0,"stop":99,"target":102,"size":1}"#,
                "entry: must be a positive number",
            ),
            (
                r#"{"symbol":"X","side":"long","entry":100,"stop":99,"target":102,"size":1,"lots":1}"#,
                "lots: unknown field",
            ),
            (
                r#"{"symbol":"X","side":"long","entry":100,"stop":99,"target":102,"size":1,"strategy":" "}"#,
                "strategy: must not be empty",
            ),
            (r#"[1,2]"#, "not a JSON object"),
            (r#"{"symbol":"X""#, "not a JSON object: "),
        ] {
            let err = TradeRequest::from_json_line(line).unwrap_err();
            assert_eq!(err.exit_code(), 1, "{line}");
            let err = err.to_string();
            assert!(err.starts_with(want), "{line}: {err}");
        }
    }

    #[test]
    fn a_line_s_id_is_found_even_when_the_rest_is_bad_and_the_strategy_is_normalized() {
        let bad = r#"{"id":"x1","symbol":"X","side":"up"}"#;
        assert!(TradeRequest::from_json_line(bad).is_err());
        assert_eq!(TradeRequest::line_id(bad), Some(serde_json::json!("x1")));
        assert_eq!(TradeRequest::line_id(r#"{"symbol":"X"}"#), None);
        assert_eq!(TradeRequest::line_id("not json"), None);
        let (t, _) = TradeRequest::from_json_line(
            r#"{"symbol":"X","side":"long","entry":100,"stop":99,"target":102,"size":1,"strategy":" SMA"}"#,
        )
        .unwrap();
        assert_eq!(t.strategy.unwrap().as_str(), "sma");
    }
}
