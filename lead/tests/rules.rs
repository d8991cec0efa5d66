//! Host tests for the lead model, its validation rules and the context parsing.

use reekolect_lead::*;
use serde_json::json;

fn parse(value: serde_json::Value) -> Result<Lead, FieldError> {
    parse_lead(value)
}

fn fields(value: serde_json::Value) -> Result<Lead, Vec<FieldError>> {
    validate_fields(parse(value).expect("parses"))
}

fn first_error(value: serde_json::Value) -> String {
    match fields(value) {
        Ok(lead) => panic!("expected an error, got {lead:?}"),
        Err(errors) => errors[0].to_string(),
    }
}

const UUID: &str = "7e88d192-9b20-4035-9b68-d4ac3d58a34f";

#[test]
fn wire_format_is_camel_case_and_omits_absent_fields() {
    let lead = Lead {
        uuid: Some(UUID.into()),
        bot_id: Some("bot1".into()),
        customer_id: Some("cust1".into()),
        dial_code: Some("+44".into()),
        attributes: Some(vec![Attribute { key: "plan".into(), value: "pro".into() }]),
        ..Lead::default()
    };
    let wire = serde_json::to_value(&lead).unwrap();
    assert_eq!(
        wire,
        json!({"uuid": UUID, "botId": "bot1", "customerId": "cust1", "dialCode": "+44",
               "attributes": [{"key": "plan", "value": "pro"}]})
    );
    assert_eq!(parse(wire).unwrap(), lead);
}

#[test]
fn attributes_accept_an_object_and_scalar_values() {
    let lead = parse(json!({"attributes": {"plan": "pro", "seats": 5, "trial": true, "ratio": 1.5}})).unwrap();
    let mut pairs: Vec<(String, String)> = lead.attributes.unwrap().into_iter().map(|a| (a.key, a.value)).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [("plan", "pro"), ("ratio", "1.5"), ("seats", "5"), ("trial", "true")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
    );
}

#[test]
fn negative_zero_is_written_as_javascript_writes_it() {
    let lead = parse(serde_json::from_str(r#"{"attributes": {"a": -0, "b": -0.0, "c": 0.0}}"#).unwrap()).unwrap();
    let values: Vec<String> = lead.attributes.unwrap().into_iter().map(|a| a.value).collect();
    assert_eq!(values, ["0", "0", "0"]);
}

#[test]
fn shape_errors_name_the_field() {
    let cases = [
        (json!({"nmae": "x"}), "nmae: is not a known field"),
        (json!({"email": 5}), "email: must be a string (got integer `5`)"),
        (json!({"tags": "vip"}), "tags: must be a sequence"),
        (json!({"attributes": {"plan": {"nested": 1}}}), "attributes.plan: must be a string, number or boolean"),
        (
            json!({"attributes": [{"key": "a", "value": []}]}),
            "attributes[0].value: must be a string, number or boolean",
        ),
        (json!({"notes": [{"description": "no title"}]}), "notes[0].title: is required"),
        (json!({"notes": [{"title": "t", "body": "x"}]}), "notes[0].body: is not a known field"),
        (json!("a string"), "body: must be struct Lead"),
    ];
    for (input, expected) in cases {
        let got = parse(input.clone()).expect_err("must not parse").to_string();
        assert!(got.starts_with(expected), "{input}: got {got:?}, want prefix {expected:?}");
    }
}

#[test]
fn valid_values_are_normalised() {
    let cases = [
        (json!({"status": " inProgress "}), json!({"status": "INPROGRESS"})),
        (json!({"email": " Ann.Lee+x@Example.CO.uk "}), json!({"email": "Ann.Lee+x@example.co.uk"})),
        (json!({"email": "anna@müller.de"}), json!({"email": "anna@müller.de"})),
        (json!({"email": "user@例え.テスト"}), json!({"email": "user@例え.テスト"})),
        (json!({"phone": "+44 20 7946-0958"}), json!({"phone": "2079460958", "dialCode": "+44"})),
        (json!({"phone": "+1 (555) 010-9999"}), json!({"phone": "5550109999", "dialCode": "+1"})),
        (json!({"phone": "+353 1 234 5678"}), json!({"phone": "12345678", "dialCode": "+353"})),
        (json!({"phone": "+44 7700 900123", "dialCode": "44"}), json!({"phone": "7700900123", "dialCode": "+44"})),
        (json!({"phone": "555-0100", "dialCode": "+1"}), json!({"phone": "5550100", "dialCode": "+1"})),
        (json!({"dialCode": "91"}), json!({"dialCode": "+91"})),
        (json!({"name": "  Ada Lovelace "}), json!({"name": "Ada Lovelace"})),
        (json!({"picture": "HTTPS://cdn.example.com/a.png"}), json!({"picture": "HTTPS://cdn.example.com/a.png"})),
        (json!({"tags": [" vip", "vip", "lead ", "VIP"]}), json!({"tags": ["vip", "lead", "VIP"]})),
        (
            json!({"attributes": [{"key": "plan", "value": "a"}, {"key": "seats", "value": "2"}, {"key": "plan", "value": "b"}]}),
            json!({"attributes": [{"key": "plan", "value": "b"}, {"key": "seats", "value": "2"}]}),
        ),
        (json!({"notes": [{"title": " Call back "}]}), json!({"notes": [{"title": "Call back", "description": ""}]})),
        (json!({"agentId": "631aa793bcfa100487d13d0d"}), json!({"agentId": "631aa793bcfa100487d13d0d"})),
    ];
    for (input, expected) in cases {
        let got = fields(input.clone()).unwrap_or_else(|e| panic!("{input}: {e:?}"));
        assert_eq!(serde_json::to_value(got).unwrap(), expected, "{input}");
    }
}

#[test]
fn invalid_values_name_field_and_rule() {
    let long = "x".repeat(201);
    let cases = [
        (json!({"status": "DONE"}), "status: must be one of OPEN, INPROGRESS, REVIEW, ONHOLD, DEPENDANCY, CLOSED"),
        (json!({"email": "ann@"}), "email: must be an email address"),
        (json!({"email": "ann example.com"}), "email: must be an email address"),
        (json!({"email": "ann@example"}), "email: must be an email address"),
        (json!({"email": "ann@@example.com"}), "email: must be an email address"),
        (json!({"email": "a..b@example.com"}), "email: must be an email address"),
        (json!({"email": "ann@exa_mple.com"}), "email: must be an email address"),
        (json!({"email": "ann@ex!ample.com"}), "email: must be an email address"),
        (json!({"phone": "call me"}), "phone: may hold only digits"),
        (json!({"phone": "12"}), "phone: must have 4 to 15 digits"),
        (json!({"phone": "+44 12"}), "phone: must be a full international number"),
        (json!({"phone": "+44 20 7946 0958", "dialCode": "+1"}), "phone: starts with +44 but dialCode is +1"),
        (json!({"dialCode": "+12345"}), "dialCode: must be '+' and 1 to 4 digits"),
        (json!({"dialCode": "+4a"}), "dialCode: must be '+' and 1 to 4 digits"),
        (json!({"picture": "ftp://example.com/a.png"}), "picture: must be an absolute http(s) URL"),
        (json!({"picture": "/a.png"}), "picture: must be an absolute http(s) URL"),
        (json!({"picture": "https:///a.png"}), "picture: must be an absolute http(s) URL"),
        (json!({"picture": "https://exa mple.com/a.png"}), "picture: must be an absolute http(s) URL"),
        (json!({"name": "   "}), "name: must not be empty"),
        (json!({"name": long}), "name: must be at most 200 characters"),
        (json!({"name": "a\u{0}b"}), "name: must not contain control characters"),
        (json!({"agentId": "not an id"}), "agentId: must be 1 to 64 letters"),
        (json!({"tags": ["ok", ""]}), "tags[1]: must not be empty"),
        (json!({"tags": vec!["t"; 101]}), "tags: must have at most 100 entries"),
        (json!({"notes": [{"title": ""}]}), "notes[0].title: must not be empty"),
        (json!({"attributes": {"": "x"}}), "attributes[0].key: must not be empty"),
        (json!({"attributes": {"k": "v".repeat(1001)}}), "attributes[0].value: must be at most 1000 characters"),
    ];
    for (input, expected) in cases {
        let got = first_error(input.clone());
        assert!(got.starts_with(expected), "{input}: got {got:?}, want prefix {expected:?}");
    }
}

#[test]
fn every_broken_rule_is_reported_at_once() {
    let errors = fields(json!({"email": "nope", "status": "x", "tags": ["", "ok"], "name": "Ann"})).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["status", "email", "tags[0]"]);
}

#[test]
fn a_complete_lead_needs_its_identity() {
    let errors = validate_lead(Lead::default()).unwrap_err();
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["uuid: is required", "botId: is required", "customerId: is required"]
    );
    let bad = parse(json!({"uuid": "123", "botId": "b!", "customerId": "c"})).unwrap();
    let errors: Vec<String> = validate_lead(bad).unwrap_err().iter().map(|e| e.field.clone()).collect();
    assert_eq!(errors, ["uuid", "botId"]);
    let good = parse(json!({"uuid": UUID, "botId": "b", "customerId": "c", "status": "open"})).unwrap();
    assert_eq!(validate_lead(good).unwrap().status.as_deref(), Some("OPEN"));
}

#[test]
fn widget_script_text() {
    let ok = |text: &str| parse_widget_script_text(text).map(|ids| (ids.bot_id, ids.customer_id));
    assert_eq!(ok("BotId,CustomerId"), Ok(("BotId".into(), "CustomerId".into())));
    assert_eq!(ok("\n   63d9ffa7 ,\n\t 631aa793_x-1 \n"), Ok(("63d9ffa7".into(), "631aa793_x-1".into())));
    for bad in ["", "OnlyOne", "a,b,c", "a,", ",b", "a b,c", "console.log('x'),y"] {
        let err = parse_widget_script_text(bad).expect_err(bad);
        assert!(err.contains("BotId,CustomerId"), "{err}");
    }
}

#[test]
fn bot_page_url() {
    let ok = |url: &str| parse_bot_page_url(url).map(|ids| (ids.bot_id, ids.customer_id));
    assert_eq!(ok("https://page.Reekolect.online/BotId/CustomerId"), Some(("BotId".into(), "CustomerId".into())));
    assert_eq!(ok("https://page.reekolect.online/b1/c1/?utm=x#top"), Some(("b1".into(), "c1".into())));
    assert_eq!(ok("https://page.reekolect.online/b1"), None);
    assert_eq!(ok("https://evil.example/page.reekolect.online/b1/c1"), None);
    assert_eq!(ok("https://page.reekolect.online.evil.example/b1/c1"), None);
    assert_eq!(ok("not a url"), None);
}

#[test]
fn uuid_format() {
    assert!(is_uuid(UUID));
    assert!(is_uuid(&UUID.to_uppercase()));
    for bad in [
        "",
        "7e88d192-9b20-4035-9b68-d4ac3d58a34",
        "7e88d192_9b20-4035-9b68-d4ac3d58a34f",
        "ze88d192-9b20-4035-9b68-d4ac3d58a34f",
    ] {
        assert!(!is_uuid(bad), "{bad}");
    }
}

#[test]
fn visitor_uuid_discovery() {
    let other = "11111111-2222-4333-8444-555555555555";
    let find = |entries: &[(&str, &str)], key: Option<&str>| find_visitor_uuid(entries.iter().copied(), key);
    assert_eq!(find(&[("theme", "dark"), ("Reekolect_uuid", UUID)], None), Ok(UUID.into()));
    assert_eq!(find(&[("visitor", &format!("{{\"visitorUuid\":\"{UUID}\",\"n\":1}}"))], None), Ok(UUID.into()));
    assert_eq!(find(&[("uuid", &format!("\"{UUID}\""))], None), Ok(UUID.into()));
    // A UUID under a key that does not name one is somebody else's id.
    assert!(find(&[("cartId", UUID)], None).unwrap_err().contains("no visitor UUID"));
    assert!(find(&[("x", &format!("{{\"cartId\":\"{UUID}\"}}"))], None).is_err());
    assert!(find(&[], None).unwrap_err().contains("has not opened the chat"));
    // The same UUID twice is fine; two different ones are ambiguous.
    assert_eq!(find(&[("a_uuid", UUID), ("b_uuid", UUID)], None), Ok(UUID.into()));
    let err = find(&[("a_uuid", UUID), ("b_uuid", other)], None).unwrap_err();
    assert!(err.contains("\"a_uuid\", \"b_uuid\"") && err.contains("uuidKey"), "{err}");
    // A configured key is the only one read, whatever its name.
    assert_eq!(find(&[("a_uuid", UUID), ("visitor", other)], Some("visitor")), Ok(other.into()));
    assert!(find(&[("visitor", "nope")], Some("visitor")).unwrap_err().contains("holds no visitor UUID"));
    assert!(find(&[("a_uuid", UUID)], Some("visitor")).unwrap_err().contains("no \"visitor\""));
}

#[test]
fn merging_updates_follows_the_documented_rules() {
    let mut merged = parse(json!({
        "name": "Ann", "email": "ann@example.com", "tags": ["a", "b"],
        "attributes": [{"key": "plan", "value": "free"}, {"key": "seats", "value": "1"}],
        "notes": [{"title": "first"}]
    }))
    .unwrap();
    merged.merge(
        parse(json!({"name": "Ann Lee", "status": "OPEN", "tags": ["b", "c"],
        "attributes": {"plan": "pro", "region": "eu"}, "notes": [{"title": "second"}]}))
        .unwrap(),
    );
    merged.merge(parse(json!({"email": null, "tags": []})).unwrap());
    assert_eq!(
        serde_json::to_value(&merged).unwrap(),
        json!({
            "name": "Ann Lee", "email": "ann@example.com", "status": "OPEN",
            "tags": ["a", "b", "c"],
            "attributes": [{"key": "plan", "value": "pro"}, {"key": "seats", "value": "1"}, {"key": "region", "value": "eu"}],
            "notes": [{"title": "first", "description": ""}, {"title": "second", "description": ""}]
        })
    );
}

#[test]
fn merging_into_an_empty_update_is_the_update() {
    let update = parse(json!({"phone": "2079460958", "dialCode": "+44", "tags": ["x"]})).unwrap();
    let mut merged = Lead::default();
    merged.merge(update.clone());
    assert_eq!(merged, update);
}
