//! A small ONNX graph builder: named values, float initializers, nodes with attributes. Every
//! node output gets a fresh, readable name (`<prefix>/<op>_<n>`), so exported graphs can be read
//! and snapshotted.

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::tensor_shape_proto::{dimension, Dimension};
use onnx_protobuf::type_proto::{self, Value};
use onnx_protobuf::{
    AttributeProto, GraphProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// An attribute value.
#[derive(Debug, Clone)]
pub enum Attr {
    /// One integer.
    Int(i64),
    /// Integers.
    Ints(Vec<i64>),
    /// One float.
    Float(f32),
}

/// One dimension of a graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A size chosen when the model runs (`batch`).
    Named(String),
}

impl Dim {
    /// The free batch dimension, `batch`, of every export.
    pub fn batch() -> Self {
        Self::Named("batch".into())
    }
}

/// Builds a `GraphProto` node by node.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    graph: GraphProto,
    counter: usize,
    scope: String,
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let mut shape = TensorShapeProto::new();
    shape.dim = dims
        .iter()
        .map(|d| {
            let mut dim = Dimension::new();
            dim.value = Some(match d {
                Dim::Fixed(n) => dimension::Value::DimValue(*n as i64),
                Dim::Named(s) => dimension::Value::DimParam(s.clone()),
            });
            dim
        })
        .collect();
    let mut tensor = type_proto::Tensor::new();
    tensor.elem_type = DataType::FLOAT as i32;
    tensor.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.value = Some(Value::TensorType(tensor));
    let mut info = ValueInfoProto::new();
    info.name = name.to_owned();
    info.type_ = Some(ty).into();
    info
}

impl GraphBuilder {
    /// An empty graph called `name`.
    pub fn new(name: &str) -> Self {
        let mut graph = GraphProto::new();
        graph.name = name.to_owned();
        Self {
            graph,
            counter: 0,
            scope: String::new(),
        }
    }

    /// Names the nodes added from now on `<scope>/...` (a layer name such as `conv0`).
    pub fn set_scope(&mut self, scope: &str) {
        self.scope = scope.to_owned();
    }

    /// The current scope (the layer being emitted), empty before the first
    /// [`set_scope`](Self::set_scope).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    fn fresh(&mut self, what: &str) -> String {
        self.counter += 1;
        if self.scope.is_empty() {
            format!("{what}_{}", self.counter)
        } else {
            format!("{}/{what}_{}", self.scope, self.counter)
        }
    }

    /// Declares a float graph input.
    pub fn input(&mut self, name: &str, dims: &[Dim]) -> String {
        self.graph.input.push(value_info(name, dims));
        name.to_owned()
    }

    /// Declares `value` as a float graph output.
    pub fn output(&mut self, value: &str, dims: &[Dim]) {
        self.graph.output.push(value_info(value, dims));
    }

    /// A float constant (weights, thresholds): `dims` may be empty for a scalar.
    pub fn constant(&mut self, what: &str, dims: &[usize], values: Vec<f32>) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        let name = self.fresh(what);
        let mut tensor = TensorProto::new();
        tensor.name = name.clone();
        tensor.data_type = DataType::FLOAT as i32;
        tensor.dims = dims.iter().map(|&d| d as i64).collect();
        tensor.float_data = values;
        self.graph.initializer.push(tensor);
        name
    }

    /// An int64 constant (shapes, axes).
    pub fn ints(&mut self, what: &str, values: &[i64]) -> String {
        let name = self.fresh(what);
        let mut tensor = TensorProto::new();
        tensor.name = name.clone();
        tensor.data_type = DataType::INT64 as i32;
        tensor.dims = vec![values.len() as i64];
        tensor.int64_data = values.to_vec();
        self.graph.initializer.push(tensor);
        name
    }

    /// Adds a node with one output and returns the output's name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)]) -> String {
        self.node_n(op, inputs, attrs, 1).remove(0)
    }

    /// Adds a node with `outputs` outputs.
    pub fn node_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: &[(&str, Attr)],
        outputs: usize,
    ) -> Vec<String> {
        let name = self.fresh(op);
        let mut node = NodeProto::new();
        node.op_type = op.to_owned();
        node.name = name.clone();
        node.input = inputs.iter().map(|s| (*s).to_owned()).collect();
        node.output = if outputs == 1 {
            vec![name.clone()]
        } else {
            (0..outputs).map(|i| format!("{name}:{i}")).collect()
        };
        node.attribute = attrs
            .iter()
            .map(|(key, value)| {
                let mut a = AttributeProto::new();
                a.name = (*key).to_owned();
                match value {
                    Attr::Int(i) => {
                        a.type_ = AttributeType::INT.into();
                        a.i = *i;
                    }
                    Attr::Ints(v) => {
                        a.type_ = AttributeType::INTS.into();
                        a.ints = v.clone();
                    }
                    Attr::Float(f) => {
                        a.type_ = AttributeType::FLOAT.into();
                        a.f = *f;
                    }
                }
                a
            })
            .collect();
        let out = node.output.clone();
        self.graph.node.push(node);
        out
    }

    /// Adds a node whose one output gets a chosen name (a graph output such as `rates`).
    pub fn node_to(&mut self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)], output: &str) {
        let produced = self.node(op, inputs, attrs);
        let node = self.graph.node.last_mut().expect("just added");
        debug_assert_eq!(node.output, [produced]);
        node.output = vec![output.to_owned()];
    }

    /// `Reshape(x, shape)`.
    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let shape = self.ints("shape", shape);
        self.node("Reshape", &[x, &shape], &[])
    }

    /// The finished graph.
    pub fn finish(self) -> GraphProto {
        self.graph
    }
}
