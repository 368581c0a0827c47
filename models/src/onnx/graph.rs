//! Nodes, initializers and the model wrapper.

use candle_core::{DType, Tensor};
use candle_onnx::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_proto::DataType, tensor_shape_proto, type_proto,
};

use super::{IR_VERSION, OPSET};
use crate::Result;

/// The name of a tensor inside a [`Graph`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value(String);

impl Value {
    /// The tensor's name in the graph.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// A graph input or output: its name and shape, `None` marking the dynamic batch dimension `N`.
#[derive(Clone, Debug)]
pub struct ValueShape {
    /// The tensor's name.
    pub name: String,
    /// Its dimensions; `None` is the symbolic batch dimension.
    pub dims: Vec<Option<usize>>,
}

/// An ONNX graph under construction. All float tensors are f32; integer constants are Int64.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    scope: Vec<String>,
    next_id: usize,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value named `name`, for graph inputs.
    pub fn input(&self, name: &str) -> Value {
        Value(name.to_string())
    }

    /// Runs `f` with `name` appended to the naming scope, so node and weight names read like
    /// the layer path (`scale0.coupling1.net.in_conv.weight`).
    pub fn scoped<T>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.scope.push(name.to_string());
        let out = f(self);
        self.scope.pop();
        out
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.next_id += 1;
        let mut name = self.scope.join(".");
        if !name.is_empty() {
            name.push('.');
        }
        format!("{name}{hint}_{}", self.next_id)
    }

    /// Adds a node with one output and returns it.
    pub fn node(&mut self, op: &str, inputs: &[&Value], attrs: Vec<AttributeProto>) -> Value {
        let out = self.fresh(&op.to_lowercase());
        self.nodes.push(NodeProto {
            op_type: op.to_string(),
            name: out.clone(),
            input: inputs.iter().map(|v| v.0.clone()).collect(),
            output: vec![out.clone()],
            attribute: attrs,
            ..Default::default()
        });
        Value(out)
    }

    /// Renames `value` to `name` (an Identity node), for graph outputs.
    pub fn rename(&mut self, value: &Value, name: &str) -> Value {
        self.nodes.push(NodeProto {
            op_type: "Identity".to_string(),
            name: format!("{name}_identity"),
            input: vec![value.0.clone()],
            output: vec![name.to_string()],
            ..Default::default()
        });
        Value(name.to_string())
    }

    /// Adds a float initializer holding `t` (converted to f32) and returns it.
    pub fn weight(&mut self, hint: &str, t: &Tensor) -> Result<Value> {
        let data = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let dims = t.dims().iter().map(|&d| d as i64).collect();
        Ok(self.initializer(hint, dims, data))
    }

    /// Adds a 1-D float initializer.
    fn floats(&mut self, hint: &str, data: Vec<f32>) -> Value {
        self.initializer(hint, vec![data.len() as i64], data)
    }

    fn initializer(&mut self, hint: &str, dims: Vec<i64>, float_data: Vec<f32>) -> Value {
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims,
            data_type: DataType::Float as i32,
            float_data,
            ..Default::default()
        });
        Value(name)
    }

    /// Adds a scalar f32 constant.
    pub fn scalar(&mut self, v: f32) -> Value {
        self.initializer("const", vec![], vec![v])
    }

    /// Adds a 1-D Int64 constant (shapes, axes, slice bounds).
    pub fn ints(&mut self, v: &[i64]) -> Value {
        let name = self.fresh("ints");
        self.initializers.push(TensorProto {
            name: name.clone(),
            dims: vec![v.len() as i64],
            data_type: DataType::Int64 as i32,
            int64_data: v.to_vec(),
            ..Default::default()
        });
        Value(name)
    }

    /// `a + b` (broadcasting).
    pub fn add(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Add", &[a, b], vec![])
    }
    /// `a - b` (broadcasting).
    pub fn sub(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Sub", &[a, b], vec![])
    }
    /// `a * b` (broadcasting).
    pub fn mul(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Mul", &[a, b], vec![])
    }
    /// `a / b` (broadcasting).
    pub fn div(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Div", &[a, b], vec![])
    }
    /// Elementwise unary op (`Exp`, `Log`, `Tanh`, `Sigmoid`, `Relu`, `Neg`, `Sqrt`).
    pub fn unary(&mut self, op: &str, a: &Value) -> Value {
        self.node(op, &[a], vec![])
    }
    /// `a * c` for a float constant `c`.
    pub fn mul_scalar(&mut self, a: &Value, c: f32) -> Value {
        let c = self.scalar(c);
        self.mul(a, &c)
    }
    /// `a + c` for a float constant `c`.
    pub fn add_scalar(&mut self, a: &Value, c: f32) -> Value {
        let c = self.scalar(c);
        self.add(a, &c)
    }

    /// Reshape to `shape`; `0` copies the input dimension (the dynamic batch), `-1` is inferred.
    pub fn reshape(&mut self, a: &Value, shape: &[i64]) -> Value {
        let shape = self.ints(shape);
        self.node("Reshape", &[a, &shape], vec![])
    }

    /// Permutes dimensions.
    pub fn transpose(&mut self, a: &Value, perm: &[i64]) -> Value {
        self.node("Transpose", &[a], vec![attr_ints("perm", perm)])
    }

    /// Concatenates along `axis`.
    pub fn concat(&mut self, parts: &[&Value], axis: i64) -> Value {
        self.node("Concat", parts, vec![attr_int("axis", axis)])
    }

    /// `a[.., start..end, ..]` along `axis`.
    pub fn slice(&mut self, a: &Value, axis: i64, start: i64, end: i64) -> Value {
        let starts = self.ints(&[start]);
        let ends = self.ints(&[end]);
        let axes = self.ints(&[axis]);
        self.node("Slice", &[a, &starts, &ends, &axes], vec![])
    }

    /// Sums over every axis but the batch axis 0: `[N, ...] -> [N]`. `rank` is the input's rank.
    pub fn sum_per_example(&mut self, a: &Value, rank: usize) -> Value {
        let axes: Vec<i64> = (1..rank as i64).collect();
        let axes = self.ints(&axes);
        self.node("ReduceSum", &[a, &axes], vec![attr_int("keepdims", 0)])
    }

    /// Sums over `axes`, keeping them as size-1 dimensions.
    pub fn sum_keepdim(&mut self, a: &Value, axes: &[i64]) -> Value {
        let axes = self.ints(axes);
        self.node("ReduceSum", &[a, &axes], vec![attr_int("keepdims", 1)])
    }

    /// 2-D convolution, stride 1, `pad` on every side; `weight` `[O, I, K, K]`, `bias` `[O]`.
    pub fn conv2d(&mut self, x: &Value, weight: &Value, bias: &Value, pad: i64) -> Value {
        self.node(
            "Conv",
            &[x, weight, bias],
            vec![
                attr_ints("pads", &[pad, pad, pad, pad]),
                attr_ints("strides", &[1, 1]),
            ],
        )
    }

    /// `x·scale + shift` per channel (axis 1) for `x` `[N, C, ...]`, `scale` and `shift` `[C]`.
    ///
    /// Emitted as an eval-mode `BatchNormalization` with mean 0, variance 1 and ε = 0, which is
    /// exactly that affine map: engines fold this op into a neighbouring `Conv` or run it in their
    /// blocked conv layout (ONNX Runtime's NCHWc), whereas a `Mul`/`Add` pair with `[1, C, 1, 1]`
    /// constants makes ONNX Runtime convert every activation back to plain NCHW and run the
    /// ReLU separately (measured: scoring 25–35% slower, docs/benchmarks.md).
    pub fn channel_affine(
        &mut self,
        x: &Value,
        hint: &str,
        scale: &Tensor,
        shift: &Tensor,
    ) -> Result<Value> {
        let channels = scale.dim(0)?;
        let scale = self.weight(&format!("{hint}_scale"), scale)?;
        let shift = self.weight(&format!("{hint}_shift"), shift)?;
        let mean = self.floats(&format!("{hint}_zero_mean"), vec![0.0; channels]);
        let var = self.floats(&format!("{hint}_unit_var"), vec![1.0; channels]);
        Ok(self.node(
            "BatchNormalization",
            &[x, &scale, &shift, &mean, &var],
            vec![attr_float("epsilon", 0.0)],
        ))
    }

    /// `x @ w + b` for `x` `[N, I]`, `w` `[I, O]`, `b` `[O]`.
    pub fn linear(&mut self, x: &Value, w: &Value, b: &Value) -> Value {
        let y = self.node("MatMul", &[x, w], vec![]);
        self.add(&y, b)
    }

    /// Wraps the nodes into a model with the given inputs, outputs and metadata.
    pub fn into_model(
        self,
        name: &str,
        inputs: &[ValueShape],
        outputs: &[ValueShape],
        metadata: &[(String, String)],
    ) -> ModelProto {
        let graph = GraphProto {
            name: name.to_string(),
            node: self.nodes,
            initializer: self.initializers,
            input: inputs.iter().map(value_info).collect(),
            output: outputs.iter().map(value_info).collect(),
            ..Default::default()
        };
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "realnvp-rs".to_string(),
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            graph: Some(graph),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            ..Default::default()
        }
    }
}

fn value_info(v: &ValueShape) -> ValueInfoProto {
    let dim = v
        .dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(n) => tensor_shape_proto::dimension::Value::DimValue(*n as i64),
                None => tensor_shape_proto::dimension::Value::DimParam("N".to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: v.name.clone(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An integer attribute.
pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

/// A float attribute.
pub fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Float as i32,
        f: v,
        ..Default::default()
    }
}

/// An integer-list attribute.
pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}
