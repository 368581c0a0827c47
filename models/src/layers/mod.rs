//! The bijections a flow is built from, one per file.

mod batch_norm;
mod coupling;
mod mask;
mod multi_scale;
mod preprocess;
mod sequence;
mod squeeze;

pub use batch_norm::FlowBatchNorm;
pub use coupling::AffineCoupling;
pub use mask::Mask;
pub use multi_scale::MultiScale;
pub use preprocess::{Logit, Scale, Standardize};
pub use sequence::Sequence;
pub use squeeze::Squeeze;
