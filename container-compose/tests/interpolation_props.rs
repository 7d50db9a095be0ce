//! Property tests of interpolation: escaping round trips, plain text is untouched, defaults apply.

use container_compose::interpolate::{Env, interpolate_str};
use proptest::prelude::*;

fn escape(s: &str) -> String {
    s.replace('$', "$$")
}

proptest! {
    #[test]
    fn escaped_text_round_trips(s in ".*") {
        prop_assert_eq!(interpolate_str(&escape(&s), &Env::new()).expect("escaped text is valid"), s);
    }

    #[test]
    fn text_without_dollar_is_unchanged(s in "[^$]*") {
        prop_assert_eq!(interpolate_str(&s, &Env::new()).expect("valid"), s);
    }

    #[test]
    fn value_and_default(name in "[A-Z_][A-Z0-9_]{0,8}", value in "[^$]{0,12}", default in "[^$}]{0,12}") {
        let mut env = Env::new();
        let text = format!("${{{name}:-{}}}", default);
        prop_assert_eq!(interpolate_str(&text, &env).expect("valid"), default.clone());
        env.insert(name.clone(), value.clone());
        let expect = if value.is_empty() { default.clone() } else { value.clone() };
        prop_assert_eq!(interpolate_str(&text, &env).expect("valid"), expect);
        prop_assert_eq!(interpolate_str(&format!("${name}"), &env).expect("valid"), value.clone());
        prop_assert_eq!(interpolate_str(&format!("pre${{{name}}}post"), &env).expect("valid"), format!("pre{value}post"));
    }

    #[test]
    fn never_panics(s in ".*") {
        let env: Env = [("A".to_string(), "x".to_string())].into();
        let _ = interpolate_str(&s, &env);
    }
}
