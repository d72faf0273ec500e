//! Binding skeleton; being written.
