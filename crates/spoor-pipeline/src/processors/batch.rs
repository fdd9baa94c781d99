//! placeholder: the batch processor
