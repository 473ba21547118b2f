//! The neuron in an ONNX graph, emitted by evaluating the neuron's own rules
//! (`snn_core::neuron::rule`) on graph values: the exported spike test and reset are the ones
//! the kernels run, not a second copy of them.

use std::cell::RefCell;
use std::collections::HashMap;

use snn_core::{Compare, Elementwise};

use crate::graph::{Attr, GraphBuilder};

/// ONNX `TensorProto.DataType` codes used here.
const FLOAT: i64 = 1;
const BOOL: i64 = 9;

/// The graph under construction, with the scalar constants of one layer's neuron made once each.
pub(crate) struct NeuronGraph<'b> {
    graph: &'b mut GraphBuilder,
    scalars: HashMap<u32, String>,
}

impl<'b> NeuronGraph<'b> {
    /// Emits into `graph`.
    pub(crate) fn new(graph: &'b mut GraphBuilder) -> RefCell<Self> {
        RefCell::new(Self {
            graph,
            scalars: HashMap::new(),
        })
    }

    /// The builder, to emit what the rules do not.
    pub(crate) fn builder(&mut self) -> &mut GraphBuilder {
        self.graph
    }
}

/// A value of the graph under construction: arithmetic on it appends nodes.
#[derive(Clone)]
pub(crate) struct GraphValue<'g, 'b> {
    graph: &'g RefCell<NeuronGraph<'b>>,
    /// The value's name in the graph.
    pub(crate) name: String,
}

impl<'g, 'b> GraphValue<'g, 'b> {
    /// The graph's existing value `name`.
    pub(crate) fn new(graph: &'g RefCell<NeuronGraph<'b>>, name: impl Into<String>) -> Self {
        Self {
            graph,
            name: name.into(),
        }
    }

    fn node(&self, op: &str, inputs: &[&str], attrs: &[(&str, Attr)]) -> Self {
        let name = self.graph.borrow_mut().graph.node(op, inputs, attrs);
        Self::new(self.graph, name)
    }

    fn binary(self, op: &str, rhs: &Self) -> Self {
        self.node(op, &[&self.name, &rhs.name], &[])
    }

    /// The f32 constant `c` (the exported graph runs in f32), made once per layer.
    fn scalar(&self, c: f64) -> String {
        let c = c as f32;
        let mut graph = self.graph.borrow_mut();
        if let Some(name) = graph.scalars.get(&c.to_bits()) {
            return name.clone();
        }
        let name = graph.graph.constant("scalar", &[], vec![c]);
        graph.scalars.insert(c.to_bits(), name.clone());
        name
    }

    fn with_scalar(self, op: &str, c: f64) -> Self {
        let c = self.scalar(c);
        self.node(op, &[&self.name, &c], &[])
    }

    fn cast(&self, to: i64) -> Self {
        self.node("Cast", &[&self.name], &[("to", Attr::Int(to))])
    }
}

impl Elementwise for GraphValue<'_, '_> {
    fn add(self, rhs: Self) -> Self {
        self.binary("Add", &rhs)
    }
    fn sub(self, rhs: Self) -> Self {
        self.binary("Sub", &rhs)
    }
    fn mul(self, rhs: Self) -> Self {
        self.binary("Mul", &rhs)
    }
    fn add_scalar(self, c: f64) -> Self {
        self.with_scalar("Add", c)
    }
    fn mul_scalar(self, c: f64) -> Self {
        self.with_scalar("Mul", c)
    }
    fn div_scalar(self, c: f64) -> Self {
        self.with_scalar("Div", c)
    }
    fn scalar_div(self, c: f64) -> Self {
        let c = self.scalar(c);
        self.node("Div", &[&c, &self.name], &[])
    }
    fn neg(self) -> Self {
        self.node("Neg", &[&self.name], &[])
    }
    fn abs(self) -> Self {
        self.node("Abs", &[&self.name], &[])
    }
    fn exp(self) -> Self {
        self.node("Exp", &[&self.name], &[])
    }
    fn clamp_min_zero(self) -> Self {
        self.node("Relu", &[&self.name], &[])
    }
    fn indicator(self, cmp: Compare, c: f64) -> Self {
        let op = match cmp {
            Compare::GreaterOrEqual => "GreaterOrEqual",
            Compare::Greater => "Greater",
            Compare::Less => "Less",
        };
        self.with_scalar(op, c).cast(FLOAT)
    }
    fn constant_like(&self, c: f64) -> Self {
        let name = self.scalar(c);
        Self::new(self.graph, name)
    }
    fn select(spike: Self, if_spike: Self, otherwise: Self) -> Self {
        let mask = spike.cast(BOOL);
        mask.node("Where", &[&mask.name, &if_spike.name, &otherwise.name], &[])
    }
}
