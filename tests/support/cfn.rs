//! template.yaml as CloudFormation would see it for one set of parameters: the parameters'
//! defaults with overrides, its conditions evaluated from its own `Conditions` section, and
//! the intrinsics it uses (`!Ref`, `!If`, `!Sub`, `!Join`, `!Split`, `!Select`, `!GetAtt`,
//! `!Equals`, `!Not`, `!And`, `!Or`, `!Condition`, `AWS::NoValue`) resolved to plain JSON. A
//! resource's attribute stands as `Name.Attribute`; a resource's `Ref` as its logical name
//! unless the test gives it a physical one.

use std::collections::HashMap;

use serde_json::Value as Json;
use serde_yaml_ng::Value;

use super::repo;

/// The pseudo parameters, as in a us-east-1 stack of account 123456789012.
const PSEUDO: [(&str, &str); 6] = [
    ("AWS::AccountId", "123456789012"),
    ("AWS::Region", "us-east-1"),
    ("AWS::Partition", "aws"),
    ("AWS::URLSuffix", "amazonaws.com"),
    ("AWS::StackName", "s3pp-stack"),
    (
        "AWS::StackId",
        "arn:aws:cloudformation:us-east-1:123456789012:stack/s3pp-stack/0a1b2c3d-1111-2222-3333-444455556666",
    ),
];

/// The template text.
pub fn template_text() -> String {
    std::fs::read_to_string(repo().join("template.yaml")).expect("template.yaml")
}

/// The template, parsed.
pub fn template() -> Value {
    serde_yaml_ng::from_str(&template_text()).expect("template.yaml parses")
}

/// The template deployed with some parameters.
pub struct Stack {
    template: Value,
    parameters: HashMap<String, String>,
    physical: HashMap<String, String>,
}

impl Stack {
    /// The template with its parameters' defaults, except `overrides`.
    pub fn with(overrides: &[(&str, &str)]) -> Self {
        let template = template();
        let mut parameters = HashMap::new();
        for (name, spec) in template["Parameters"].as_mapping().expect("Parameters") {
            let name = name.as_str().expect("parameter name").to_owned();
            let default = match &spec["Default"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Null => String::new(),
                other => panic!("default of {name}: {other:?}"),
            };
            parameters.insert(name, default);
        }
        for (name, value) in overrides {
            assert!(parameters.contains_key(*name), "no parameter {name}");
            parameters.insert((*name).to_owned(), (*value).to_owned());
        }
        Self {
            template,
            parameters,
            physical: HashMap::new(),
        }
    }

    /// Gives a resource's `Ref` a physical name (a bucket's name, say).
    pub fn named(mut self, resource: &str, physical: &str) -> Self {
        self.physical
            .insert(resource.to_owned(), physical.to_owned());
        self
    }

    /// Whether the named condition holds.
    pub fn condition(&self, name: &str) -> bool {
        let definition = &self.template["Conditions"][name];
        assert!(!definition.is_null(), "no condition {name}");
        self.truth(definition)
    }

    /// Whether a resource exists in this stack (its `Condition` holds).
    pub fn has(&self, resource: &str) -> bool {
        let spec = &self.template["Resources"][resource];
        assert!(!spec.is_null(), "no resource {resource}");
        spec["Condition"]
            .as_str()
            .is_none_or(|condition| self.condition(condition))
    }

    /// A resource's properties, resolved; `None` when the resource is not in this stack.
    pub fn properties(&self, resource: &str) -> Option<Json> {
        self.has(resource).then(|| {
            self.resolve(&self.template["Resources"][resource]["Properties"])
                .unwrap_or(Json::Null)
        })
    }

    /// The logical names of the resources in this stack, of `kind` (e.g. `AWS::CloudWatch::Alarm`).
    pub fn resources_of(&self, kind: &str) -> Vec<String> {
        self.template["Resources"]
            .as_mapping()
            .expect("Resources")
            .iter()
            .filter(|(_, spec)| spec["Type"].as_str() == Some(kind))
            .filter_map(|(name, _)| name.as_str().map(str::to_owned))
            .filter(|name| self.has(name))
            .collect()
    }

    /// Any part of the template, resolved (`None`: `AWS::NoValue`).
    pub fn resolve(&self, value: &Value) -> Option<Json> {
        match value {
            Value::Null => Some(Json::Null),
            Value::Bool(b) => Some(Json::Bool(*b)),
            Value::Number(n) => Some(serde_json::to_value(n).unwrap_or(Json::Null)),
            Value::String(s) => Some(Json::String(s.clone())),
            Value::Sequence(items) => Some(Json::Array(
                items.iter().filter_map(|v| self.resolve(v)).collect(),
            )),
            Value::Mapping(map) => Some(Json::Object(
                map.iter()
                    .filter_map(|(k, v)| {
                        let key = k.as_str().expect("string key").to_owned();
                        self.resolve(v).map(|v| (key, v))
                    })
                    .collect(),
            )),
            Value::Tagged(tagged) => self.intrinsic(&tagged.tag.to_string(), &tagged.value),
        }
    }

    fn text(&self, value: &Value) -> String {
        match self.resolve(value) {
            Some(Json::String(s)) => s,
            Some(Json::Number(n)) => n.to_string(),
            other => panic!("not a string: {other:?} from {value:?}"),
        }
    }

    /// A scalar as CloudFormation compares it: its text.
    fn scalar(&self, value: &Value) -> Option<String> {
        match self.resolve(value) {
            Some(Json::String(s)) => Some(s),
            Some(Json::Number(n)) => Some(n.to_string()),
            Some(Json::Bool(b)) => Some(b.to_string()),
            other => panic!("not a scalar: {other:?} from {value:?}"),
        }
    }

    /// A resource another resolves a reference to must be in this stack (CloudFormation
    /// refuses a reference to one whose condition is false outside the other branch of an
    /// `!If`, and only the branch taken is resolved here).
    fn referenced(&self, resource: &str) {
        assert!(
            self.has(resource),
            "a reference to {resource}, which this stack does not create"
        );
    }

    fn list(&self, value: &Value) -> Vec<Json> {
        match self.resolve(value) {
            Some(Json::Array(items)) => items,
            other => panic!("not a list: {other:?} from {value:?}"),
        }
    }

    fn args<'a>(&self, value: &'a Value) -> &'a [Value] {
        value.as_sequence().map(Vec::as_slice).unwrap_or_default()
    }

    fn reference(&self, name: &str) -> Option<String> {
        if name == "AWS::NoValue" {
            return None;
        }
        if let Some((_, value)) = PSEUDO.iter().find(|(n, _)| *n == name) {
            return Some((*value).to_owned());
        }
        if let Some(value) = self.parameters.get(name) {
            return Some(value.clone());
        }
        assert!(
            !self.template["Resources"][name].is_null(),
            "Ref of unknown {name}"
        );
        self.referenced(name);
        Some(self.physical.get(name).cloned().unwrap_or(name.to_owned()))
    }

    fn substitute(&self, text: &str, locals: &HashMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').expect("closing brace in !Sub");
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                // `${!Literal}` is the text `${Literal}`.
                out.push_str(&format!("${{{literal}}}"));
                rest = &after[end + 1..];
                continue;
            }
            let value = locals
                .get(name)
                .cloned()
                .unwrap_or_else(|| match name.split_once('.') {
                    Some((resource, _)) if !name.starts_with("AWS::") => {
                        self.referenced(resource);
                        name.to_owned()
                    }
                    _ => self.reference(name).unwrap_or_default(),
                });
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn intrinsic(&self, tag: &str, value: &Value) -> Option<Json> {
        let string = |s: String| Some(Json::String(s));
        match tag {
            "!Ref" => self
                .reference(value.as_str().expect("Ref name"))
                .map(Json::String),
            "!GetAtt" => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => self
                        .args(other)
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("."),
                };
                let resource = text.split('.').next().unwrap_or_default();
                self.referenced(resource);
                string(text)
            }
            "!If" => {
                let args = self.args(value);
                let name = args[0].as_str().expect("condition name");
                self.resolve(if self.condition(name) {
                    &args[1]
                } else {
                    &args[2]
                })
            }
            "!Sub" => match value {
                Value::String(text) => string(self.substitute(text, &HashMap::new())),
                Value::Sequence(args) => {
                    let locals = args[1]
                        .as_mapping()
                        .expect("Sub variables")
                        .iter()
                        .map(|(k, v)| (k.as_str().expect("name").to_owned(), self.text(v)))
                        .collect();
                    string(self.substitute(args[0].as_str().expect("Sub text"), &locals))
                }
                other => panic!("Sub of {other:?}"),
            },
            "!Join" => {
                let args = self.args(value);
                let parts: Vec<String> = self
                    .list(&args[1])
                    .into_iter()
                    .map(|v| v.as_str().expect("Join of strings").to_owned())
                    .collect();
                string(parts.join(args[0].as_str().expect("Join delimiter")))
            }
            "!Split" => {
                let args = self.args(value);
                let delimiter = args[0].as_str().expect("Split delimiter");
                Some(Json::Array(
                    self.text(&args[1])
                        .split(delimiter)
                        .map(|s| Json::String(s.to_owned()))
                        .collect(),
                ))
            }
            "!Select" => {
                let args = self.args(value);
                let index = args[0].as_u64().expect("Select index") as usize;
                Some(self.list(&args[1])[index].clone())
            }
            "!Equals" | "!Not" | "!And" | "!Or" | "!Condition" => Some(Json::Bool(self.truth(
                &Value::Tagged(Box::new(serde_yaml_ng::value::TaggedValue {
                    tag: serde_yaml_ng::value::Tag::new(tag.trim_start_matches('!')),
                    value: value.clone(),
                })),
            ))),
            other => panic!("intrinsic {other} not modelled"),
        }
    }

    fn truth(&self, value: &Value) -> bool {
        let Value::Tagged(tagged) = value else {
            panic!("not a condition: {value:?}");
        };
        let args = self.args(&tagged.value);
        match tagged.tag.to_string().as_str() {
            // CloudFormation compares the values as strings (`!Ref` of a Number parameter
            // equals `0`).
            "!Equals" => self.scalar(&args[0]) == self.scalar(&args[1]),
            "!Not" => !self.truth(&args[0]),
            "!And" => args.iter().all(|a| self.truth(a)),
            "!Or" => args.iter().any(|a| self.truth(a)),
            "!Condition" => self.condition(tagged.value.as_str().expect("condition name")),
            other => panic!("condition function {other} not modelled"),
        }
    }
}

/// Every statement of an IAM policy document (or list of documents) in resolved JSON.
pub fn statements_of(policies: &Json) -> Vec<Json> {
    let mut out = Vec::new();
    let documents = match policies {
        Json::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    for document in documents {
        let document = if document.get("PolicyDocument").is_some() {
            document["PolicyDocument"].clone()
        } else {
            document
        };
        if let Some(list) = document["Statement"].as_array() {
            out.extend(list.iter().cloned());
        }
    }
    out
}

/// A statement's actions (a string or a list), as strings.
pub fn actions_of(statement: &Json) -> Vec<String> {
    match &statement["Action"] {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => items
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}
