//! Host tests for form capture: field classification, the never-captured rules, and the
//! update built from a form.

use reekolect_lead::forms::{classify, keep_valid, luhn, normalise_key, safe_value, update_from_form, Control, Target};
use serde_json::json;

fn input(kind: &str, name: &str) -> Control {
    Control { kind: kind.into(), name: name.into(), ..Control::default() }
}

fn with(mut control: Control, edit: impl FnOnce(&mut Control)) -> Control {
    edit(&mut control);
    control
}

#[test]
fn fields_are_mapped_by_type_autocomplete_and_names() {
    let cases = [
        (input("email", "contact"), Target::Email),
        (input("text", "e-mail"), Target::Email),
        (with(input("text", "x1"), |c| c.autocomplete = "section-a shipping email".into()), Target::Email),
        (with(input("text", "f1"), |c| c.label = "Your email address".into()), Target::Email),
        (input("tel", "whatever"), Target::Phone),
        (input("text", "mobile_number"), Target::Phone),
        (with(input("text", "x"), |c| c.autocomplete = "tel".into()), Target::Phone),
        (with(input("text", "x"), |c| c.autocomplete = "given-name".into()), Target::GivenName),
        (input("text", "firstName"), Target::GivenName),
        (input("text", "last_name"), Target::FamilyName),
        (with(input("text", "q7"), |c| c.label = "Full name".into()), Target::Name),
        (input("text", "name"), Target::Name),
        (input("text", "Company Name"), Target::Attribute("company_name".into())),
        (input("text", "shipping_city"), Target::Attribute("shipping_city".into())),
        (with(input("text", ""), |c| c.id = "budgetRange".into()), Target::Attribute("budgetrange".into())),
        (
            with(input("text", ""), |c| c.label = "How did you hear about us?".into()),
            Target::Attribute("how_did_you_hear_about_us".into()),
        ),
        (input("text", ""), Target::Skip("no name, id or label to name it by")),
    ];
    for (control, expected) in cases {
        assert_eq!(classify(&control), expected, "{control:?}");
    }
}

#[test]
fn explicit_mapping_wins_over_guessing_but_not_over_safety() {
    let explicit = |field: &str, control: Control| with(control, |c| c.explicit = Some(field.into()));
    assert_eq!(classify(&explicit("phone", input("email", "email"))), Target::Phone);
    assert_eq!(classify(&explicit("attribute:Plan Tier", input("text", "x"))), Target::Attribute("plan_tier".into()));
    assert_eq!(classify(&explicit("tag", input("checkbox", "interests"))), Target::Tag);
    assert_eq!(
        classify(&explicit("note", with(input("text", "msg"), |c| c.label = "Message".into()))),
        Target::Note("Message".into())
    );
    assert!(matches!(classify(&explicit("bogus", input("text", "x"))), Target::Skip(_)));
    // A password stays a password, whatever the page maps it to.
    assert!(matches!(classify(&explicit("email", input("password", "email"))), Target::Skip(_)));
    assert!(matches!(classify(&explicit("attribute:card", input("text", "card_number"))), Target::Skip(_)));
}

#[test]
fn secrets_cards_and_ids_are_never_captured() {
    let never = [
        input("password", "nickname"),
        input("file", "cv"),
        input("hidden", "campaign"),
        input("submit", "go"),
        with(input("text", "notes"), |c| c.autocomplete = "cc-number".into()),
        with(input("text", "x"), |c| c.autocomplete = "new-password".into()),
        with(input("text", "code"), |c| c.autocomplete = "one-time-code".into()),
        input("text", "cardNumber"),
        input("text", "cc_number"),
        input("text", "cvv"),
        input("text", "card-cvc"),
        input("text", "security_code"),
        input("text", "IBAN"),
        input("text", "ssn"),
        input("text", "social_security_number"),
        input("text", "nationalId"),
        input("text", "passport_no"),
        input("text", "account_pin"),
        input("text", "user_pwd"),
        with(input("text", "field_12"), |c| c.label = "Credit card".into()),
        with(input("text", "f"), |c| c.placeholder = "Your secret answer".into()),
        with(input("email", "email"), |c| c.ignored = true),
    ];
    for control in never {
        assert!(matches!(classify(&control), Target::Skip(_)), "{control:?} was captured");
    }
    // Words that merely contain a short mark are fine.
    assert_eq!(classify(&input("text", "shipping")), Target::Attribute("shipping".into()));
    assert_eq!(classify(&input("text", "opinion")), Target::Attribute("opinion".into()));
    assert_eq!(
        classify(&with(input("hidden", "campaign"), |c| c.hidden_allowed = true)),
        Target::Attribute("campaign".into())
    );
}

#[test]
fn card_numbers_and_ibans_are_cut_out_of_any_value() {
    assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
    assert!(!luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]));
    let cases = [
        ("4111 1111 1111 1111", None),
        ("4111-1111-1111-1111", None),
        ("5500005555555559", None),
        ("  pay with 4111 1111 1111 1111 please", Some("pay with [removed] please")),
        ("my card is 378282246310005, thanks", Some("my card is [removed], thanks")),
        ("GB82 WEST 1234 5698 7654 32", None),
        ("iban: DE89370400440532013000.", Some("iban: [removed].")),
        // Not cards: fail Luhn, too short, or a phone number.
        ("order 4111 1111 1111 1112", Some("order 4111 1111 1111 1112")),
        ("+44 20 7946 0958", Some("+44 20 7946 0958")),
        ("1234567890", Some("1234567890")),
        ("   ", None),
    ];
    for (value, expected) in cases {
        assert_eq!(safe_value(value, 1000).as_deref(), expected, "{value:?}");
    }
    assert_eq!(safe_value(&"y".repeat(50), 10), Some("y".repeat(10)));
}

#[test]
fn keys_are_normalised() {
    assert_eq!(normalise_key("  Company Name "), "company_name");
    assert_eq!(normalise_key("interests[]"), "interests");
    assert_eq!(normalise_key(" grid[][] "), "grid", "every trailing [] goes, as trim_end_matches(\"[]\")");
    assert_eq!(normalise_key("a[]b[]"), "a_b");
    assert_eq!(normalise_key("How did you hear?"), "how_did_you_hear");
    assert_eq!(normalise_key("--"), "");
    assert_eq!(normalise_key(&"k".repeat(100)).len(), 64);
}

#[test]
fn a_form_becomes_one_update() {
    let form = vec![
        (with(input("text", "fname"), |c| c.autocomplete = "given-name".into()), vec!["Ada".to_string()]),
        (with(input("text", "lname"), |c| c.autocomplete = "family-name".into()), vec!["Lovelace".to_string()]),
        (input("email", "email"), vec![" ada@example.com ".to_string()]),
        (input("tel", "phone"), vec!["+44 20 7946 0958".to_string()]),
        (input("checkbox", "interests[]"), vec!["ferns".to_string(), "cacti".to_string()]),
        (with(input("checkbox", "topics"), |c| c.explicit = Some("tag".into())), vec!["newsletter".to_string()]),
        (
            with(Control { kind: "textarea".into(), name: "notes".into(), ..Control::default() }, |c| {
                c.explicit = Some("note".into())
            }),
            vec!["call me, card 4111 1111 1111 1111".to_string()],
        ),
        (input("password", "password"), vec!["hunter2".to_string()]),
        (input("text", "cardnumber"), vec!["4111111111111111".to_string()]),
        (input("text", "empty_one"), vec!["".to_string()]),
    ];
    let (lead, dropped) = keep_valid(update_from_form(&form));
    assert!(dropped.is_empty(), "{dropped:?}");
    assert_eq!(
        serde_json::to_value(&lead).unwrap(),
        json!({
            "name": "Ada Lovelace", "email": "ada@example.com", "phone": "2079460958", "dialCode": "+44",
            "notes": [{"title": "notes", "description": "call me, card [removed]"}],
            "tags": ["newsletter"],
            "attributes": [{"key": "interests", "value": "ferns, cacti"}]
        })
    );
    let text = serde_json::to_string(&lead).unwrap();
    assert!(!text.contains("hunter2") && !text.contains("4111"), "{text}");
}

#[test]
fn a_bad_field_is_dropped_and_the_rest_kept() {
    let form = vec![
        (input("email", "email"), vec!["not an email".to_string()]),
        (input("tel", "phone"), vec!["020 7946 0958".to_string()]),
        (input("text", "company"), vec!["Acme".to_string()]),
    ];
    let (lead, dropped) = keep_valid(update_from_form(&form));
    assert_eq!(dropped.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["email"]);
    assert_eq!(lead.email, None);
    assert_eq!(lead.phone.as_deref(), Some("02079460958"));
    assert_eq!(lead.attributes.unwrap()[0].value, "Acme");
}
