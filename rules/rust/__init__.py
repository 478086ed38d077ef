"""The Rust-understanding layer the rules stand on.

Rules ask questions here ("is this node test code?", "is this receiver a lock?",
"which functions does Drop reach?") instead of walking syntax themselves.
Dependencies point one way: `parsing` (tree-sitter) <- `locals` <- `context`
<- `syntax`, `bindings` <- `guards`, `spawns`; nothing here imports a rule.
"""
