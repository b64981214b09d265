//! `config show` and `config path`.

use serde_json::Value;

use crate::app::App;
use crate::cli::ConfigCommand;
use crate::error::Result;

pub(crate) fn run(app: &App, c: ConfigCommand) -> Result<()> {
    match c {
        ConfigCommand::Show => {
            let mut v = app.cfg.to_json();
            let mut human = String::new();
            flatten(&mut human, "", &v);
            if let Value::Object(m) = &mut v {
                m.insert("verb".to_owned(), Value::from("config"));
            }
            app.out.result(&v, human.trim_end(), false);
        }
        ConfigCommand::Path => {
            let path = app.cfg.config_file.value.display().to_string();
            let v = serde_json::json!({
                "verb": "config",
                "config_file": path,
                "found": app.cfg.config_file_found,
                "source": app.cfg.config_file.source.to_string(),
            });
            app.out.result(&v, &path, false);
        }
    }
    Ok(())
}

/// `a.b = value  # source` lines for people.
fn flatten(out: &mut String, prefix: &str, v: &Value) {
    let Value::Object(map) = v else {
        return;
    };
    if let (Some(value), Some(Value::String(source))) = (map.get("value"), map.get("source")) {
        let shown = match value {
            Value::Null => "(unset)".to_owned(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("{prefix} = {shown}  # {source}"));
        if let Some(Value::Bool(found)) = map.get("found") {
            out.push_str(if *found { ", found" } else { ", not found" });
        }
        out.push('\n');
        return;
    }
    for (k, child) in map {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match child {
            Value::Object(_) => flatten(out, &name, child),
            Value::Array(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        o => o.to_string(),
                    })
                    .collect();
                out.push_str(&format!("{name} = [{}]\n", items.join(", ")));
            }
            Value::String(s) => out.push_str(&format!("{name} = {s}\n")),
            other => out.push_str(&format!("{name} = {other}\n")),
        }
    }
}
