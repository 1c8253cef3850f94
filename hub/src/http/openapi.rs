//! The OpenAPI document, generated from the endpoint table and the request types' schemas.

use super::endpoints;
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

pub fn document() -> Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build).clone()
}

fn build() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let mut paths = Map::new();
    for ep in endpoints::all() {
        let mut op = json!({
            "summary": ep.summary,
            "x-roles": ep.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "responses": {
                ep.ok.to_string(): {"description": "success"},
                "400": {"$ref": "#/components/responses/Error"},
            },
        });
        if !ep.roles.is_empty() {
            op["security"] = json!([{"bearer": []}, {"cookie": []}]);
            op["responses"]["401"] = json!({"$ref": "#/components/responses/Error"});
            op["responses"]["403"] = json!({"$ref": "#/components/responses/Error"});
        }
        if ep.path.contains("{id}") {
            op["parameters"] = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}]);
            op["responses"]["404"] = json!({"$ref": "#/components/responses/Error"});
        }
        if let Some(schema) = ep.body {
            let s = schema(&mut generator);
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": s}}});
        }
        let path = paths
            .entry(ep.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        path[ep.method.as_str().to_lowercase()] = op;
    }
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"}
                }
            }}
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "gridwatch",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Real-time video and alert hub of a community security centre (社区综治中心). \
                            Every operation lists the roles it admits under x-roles."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": super::caller::SESSION_COOKIE}
            },
            "responses": {
                "Error": {
                    "description": "what went wrong",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }
            }
        }
    })
}
