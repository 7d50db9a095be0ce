//! Fuzz the Dockerfile parser layers: syntax tree, records and the shell lexer must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(ast) = container_build::parser::parse(&text) {
        for node in &ast.children {
            let _ = container_build::parser::Record::from_node(node);
        }
    }
    let env = |name: &str| (name.len() % 2 == 0).then(|| name.to_string());
    let lexer = container_build::shell::Lexer::new('\\');
    let _ = lexer.process_words(&text, &env);
    let _ = container_build::shell::Lexer::new('`').process_word(&text, &env);
});
