"""FLOPs of a traced graph and op time of a profiler trace, on every op spelling.

TF's traced graphs hold plain ops (``MatMul``, ``Conv2D``); on CPUs with AVX-512 oneDNN runs
them as ``_MklMatMul`` / ``_MklNativeFusedConv2D`` and grappler's remapper fuses bias and
activation into ``_FusedMatMul`` / ``_FusedConv2D``. :func:`canonical_op_type` maps every such
spelling back to the plain op, so FLOP counts and trace tables read the same with
``TF_ENABLE_ONEDNN_OPTS=0`` and ``=1``.
"""
from __future__ import annotations

import glob
import os
import re


def graph_flops(graph):
    """Sum of the registered ``flops`` statistics over the ops of ``graph``.

    Same per-op formulas as the TF profiler (MatMul, BatchMatMul, Conv2D and its backprops,
    ...); elementwise ops without a registered statistic count 0. Op types rewritten by grappler
    or oneDNN (``_MklMatMul``, ``_FusedMatMul``, ``_MklNativeFusedConv2D``, ...; see
    :func:`canonical_op_type`) are counted by their plain op's formula, plus one FLOP per output
    element for each fused ``BiasAdd`` / ``Add``, as the unfused graph would count them.
    Returns ``(flops, nested_call_op_types)``.
    """
    total = 0
    nested = set()
    for op in graph.get_operations():
        if op.type in ("PartitionedCall", "StatefulPartitionedCall", "While", "StatelessWhile",
                       "If", "StatelessIf"):
            nested.add(op.type)
        total += op_flops(graph, op)
    return total, sorted(nested)


_BATCH_MATMULS = ("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
# Ops whose oneDNN / grappler spelling is "<prefix>Fused<op>" with extra fused epilogue ops.
_FUSABLE = ("MatMul", "Conv2D", "Conv3D", "DepthwiseConv2dNative") + _BATCH_MATMULS
_FUSED_ELEMENTWISE = ("BiasAdd", "Add", "AddV2")


def canonical_op_type(op_type):
    """The plain TF op type of an op rewritten by oneDNN or grappler's remapper.

    ``_MklMatMul`` / ``_MklNativeMatMul`` -> ``MatMul``; ``_FusedMatMul``, ``_MklFusedMatMul``,
    ``_MklNativeFusedMatMul`` -> ``MatMul``; ``_FusedConv2D`` / ``_MklNativeFusedConv2D`` ->
    ``Conv2D``; ``_MklNativeConv2DBackpropInput`` -> ``Conv2DBackpropInput``;
    ``_MklFusedBatchMatMulV2`` -> ``BatchMatMulV2``. ``_MklFusedBatchNormV3`` stays
    ``FusedBatchNormV3`` (the plain op's own name starts with ``Fused``). Other names unchanged.
    """
    name = op_type
    for prefix in ("_MklNative", "_Mkl"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    else:
        if not (name.startswith("_Fused") and name[len("_Fused"):] in _FUSABLE):
            return op_type  # plain ops, and grappler's other fusions (_FusedBatchNormEx, ...)
        name = name[1:]
    if name.startswith("Fused") and name[len("Fused"):] in _FUSABLE:
        name = name[len("Fused"):]
    return name


def op_flops(graph, op):
    """FLOPs of one op of ``graph`` (0 where TF registers no statistic or a shape is unknown)."""
    from tensorflow.python.framework import ops as tf_ops

    op_type = canonical_op_type(op.type)
    if op_type in _BATCH_MATMULS:
        flops = _batch_matmul_flops(op)
    else:
        node_def = op.node_def
        if op_type != op.type:
            node_def = type(node_def)()
            node_def.CopyFrom(op.node_def)
            node_def.op = op_type
        try:
            stats = tf_ops.get_stats_for_node_def(graph, node_def, "flops")
        except Exception:  # noqa: BLE001  (unknown shape)
            return 0
        flops = int(stats.value or 0)
    if flops and op_type != op.type and "fused_ops" in op.node_def.attr:
        out_elements = op.outputs[0].shape.num_elements() or 0
        fused = [f.decode() for f in op.node_def.attr["fused_ops"].list.s]
        flops += out_elements * sum(f in _FUSED_ELEMENTWISE for f in fused)
    return flops


def _batch_matmul_flops(op):
    """2 * output elements * inner dimension of a BatchMatMul op.

    TF's registered statistic (``tensorflow/python/profiler/internal/flops_registry.py``, TF 2.21)
    reads the attribute ``transpose_a``, which BatchMatMul does not have (its flag is ``adj_x``),
    so for ``adj_x=True`` it takes the wrong inner dimension: the gradients of every batched
    product are miscounted (SCC's kernel gradient by a factor L / (B*C), 64x at 256 px).
    """
    a_shape = op.inputs[0].shape
    out_shape = op.outputs[0].shape
    if not (a_shape.is_fully_defined() and out_shape.is_fully_defined()):
        return 0
    k = int(a_shape[-2]) if op.get_attr("adj_x") else int(a_shape[-1])
    return 2 * k * int(out_shape.num_elements())


def graph_tensor_bytes(graph):
    """Analytic upper bound of activation memory: bytes of every op output of ``graph``
    (no buffer reuse; constants, variable handles and reads of variables excluded)."""
    skip = {"Const", "VarHandleOp", "ReadVariableOp", "Placeholder", "NoOp", "Identity",
            "Reshape", "Shape", "StridedSlice", "Pack"}
    total = 0
    for op in graph.get_operations():
        if op.type in skip:
            continue
        for t in op.outputs:
            shape = t.shape
            if shape.rank is None or not shape.is_fully_defined():
                continue
            try:
                size = t.dtype.size
            except Exception:  # noqa: BLE001  (resource / variant)
                continue
            n = 1
            for d in shape.as_list():
                n *= d
            total += n * size
    return total


def summarize_trace(logdir, depth=4):
    """Sums TF op durations (picoseconds) of the newest ``*.xplane.pb`` under ``logdir``.

    Op types are keyed by :func:`canonical_op_type` (oneDNN's ``_MklMatMul`` and grappler's
    ``_FusedConv2D`` count as ``MatMul`` / ``Conv2D``), so tables read the same on every CPU.

    Layers are the first ``depth`` components of the op-name scope (Keras' ``_1`` call suffixes
    stripped; gradients as ``grad <layer>``, every optimizer op as ``optimizer``), so nested
    models show where the time goes.
    """
    import collections

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True),
                   key=os.path.getmtime)
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    by_type = collections.Counter()
    by_layer = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU") and not plane.name.startswith("/device:"):
            continue
        meta = plane.event_metadata
        for line in plane.lines:
            if line.name == "python":
                continue
            for ev in line.events:
                name = meta[ev.metadata_id].name
                if ":" not in name or "::" in name:  # executor / threadpool events
                    continue
                op_name, op_type = name.rsplit(":", 1)
                by_type[canonical_op_type(op_type)] += ev.duration_ps
                parts = [p for p in op_name.split("/") if p]
                grad = bool(parts) and parts[0] == "gradient_tape"
                if grad:
                    parts = parts[1:]
                if parts and parts[0] in ("adam", "Adam", "sgd", "SGD"):
                    layer = "optimizer"
                else:
                    layer = "/".join(_strip(parts)[:depth])
                    if grad:
                        layer = "grad " + layer
                by_layer[layer] += ev.duration_ps
    return by_type, by_layer


def _strip(parts):
    """Scope components without the op's own name and without Keras' ``_1`` call suffixes."""
    return [re.sub(r"_\d+$", "", p) for p in parts[:-1]] or list(parts)
