//! placeholder: the debug exporter
