//! A small ONNX graph builder over candle-onnx's prost types.
//!
//! Layers emit their nodes through [`Graph`]; [`Graph::into_model`] wraps them in a `ModelProto`
//! with opset [`OPSET`] and IR version [`IR_VERSION`], which ONNX Runtime 1.31 and candle-onnx
//! both read correctly (candle-onnx misreads ReduceSum/Split below opset 13).

mod graph;
mod log_det;

pub use graph::{Graph, Value, ValueShape};
pub use log_det::LogDet;

pub use realnvp_bundle::OPSET;
pub use realnvp_bundle::names::IR_VERSION;
