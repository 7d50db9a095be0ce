//! Property tests: the parser never panics and keeps line ranges ordered; quoting round-trips
//! through the shell lexer.

use container_build::shell::Lexer;
use proptest::prelude::*;

fn no_env(_: &str) -> Option<String> {
    None
}

proptest! {
    #[test]
    fn parse_never_panics_and_lines_are_ordered(text in "[A-Za-z =\\\\\"'<>#\\[\\]\\-\\$\\{\\}\t\n`]{0,200}") {
        if let Ok(ast) = container_build::parser::parse(&text) {
            let mut last = 0;
            for n in &ast.children {
                prop_assert!(n.start_line > last);
                prop_assert!(n.end_line >= n.start_line);
                last = n.end_line;
            }
        }
    }

    #[test]
    fn single_quotes_round_trip(s in "[^']{0,40}") {
        let quoted = format!("'{s}'");
        prop_assert_eq!(Lexer::new('\\').process_word(&quoted, &no_env).expect("lex"), s);
    }

    #[test]
    fn escaped_words_round_trip(words in proptest::collection::vec("[a-z0-9 $\"'{}]{1,12}", 1..5)) {
        // Escape every character, join with spaces: splitting must give the words back.
        let line: Vec<String> = words
            .iter()
            .map(|w| w.chars().flat_map(|c| ['\\', c]).collect())
            .collect();
        let got = Lexer::new('\\').process_words(&line.join(" "), &no_env).expect("lex");
        prop_assert_eq!(got, words);
    }

    #[test]
    fn env_values_round_trip(key in "[A-Z_][A-Z0-9_]{0,8}", value in "[a-z0-9 ]{0,20}") {
        let text = format!("FROM scratch\nENV {key}=\"{value}\"\n");
        let df = container_build::instructions::parse_dockerfile(&text).expect("parse");
        let container_build::instructions::Instruction::Env(pairs) = &df.stages[0].instructions[0].instruction else {
            panic!("not ENV");
        };
        let v = Lexer::new('\\').process_word(&pairs[0].1, &no_env).expect("lex");
        prop_assert_eq!(&pairs[0].0, &key);
        prop_assert_eq!(v, value);
    }
}
