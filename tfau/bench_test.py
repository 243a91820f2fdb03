"""Smoke test of ``python -m tfau.bench`` on tiny sizes (TINY_CONFIG models, 4x4 maps)."""
import json

import numpy as np
import tensorflow as tf

from tfau import bench


def test_tiny_run_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    results = bench.main([
        "--tiny", "--only", "peak", "models", "ratios", "precision",
        "--models", "resnet_deconv", "re_net", "--json", str(out),
    ])
    saved = json.loads(out.read_text())
    assert saved["peak"]["cpu_float32"]["gflops"] > 0
    rows = {r["model"]: r for r in saved["models"]["rows"]}
    assert set(rows) == {"resnet_deconv", "re_net"}
    for row in rows.values():
        for key in ("infer_gflops_per_image", "infer_images_per_s", "train_gflops_per_image",
                    "train_images_per_s", "infer_fraction_of_peak", "train_fraction_of_peak"):
            assert row[key] > 0, (row["model"], key)
        # One trace per compiled function: no retracing in the timed loops.
        assert row["infer_traces"] == 1 and row["train_traces"] == 1
        assert not row["train_nested_calls"]
    # RE-Net's all-AU inference folds the A AUs into the batch: A x the FLOPs of a single-AU
    # forward pass; training runs one AU per batch (about 3 x a forward pass).
    re_net = rows["re_net"]
    single_au_forward = re_net["train_gflops_per_image"] / 3
    assert re_net["infer_gflops_per_image"] > 0.7 * re_net["n_aus"] * single_au_forward
    ratios = results["ratios"]
    assert ratios["re_net_one_pass_vs_loop"]["max_abs_diff"] < 1e-4
    assert len(ratios["scc_layer"]["stages"]) == 3
    for stage in ratios["scc_layer"]["stages"]:
        # The explicit edge tensor costs k x the neighbour projections' FLOPs.
        assert stage["naive_gflops_fwd"] > stage["decomposed_gflops_fwd"]
    if not tf.config.list_physical_devices("GPU"):
        assert saved["precision"]["status"] == "awaits GPU"
    assert all(c["met"] in (True, False) for c in saved["targets"])


def test_explicit_a_reference_matches_layer():
    from tfau.layers import SpectralGraphConv

    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (2, 4, 4, 6)).astype("float32"))
    layer = SpectralGraphConv(n_nodes=3)
    expected = layer(x).numpy()
    np.testing.assert_allclose(bench.explicit_a_sgc(layer, x).numpy(), expected, rtol=1e-4,
                               atol=1e-5)


def test_memory_child_counts_the_explicit_laplacian():
    job = {"h": 8, "c": 8, "m": 3, "batch": 1}
    sgc = bench._memory_child({**job, "variant": "sgc"})
    explicit = bench._memory_child({**job, "variant": "explicit_a"})
    dense = bench._memory_child({**job, "variant": "dense"})
    assert sgc["rss_method"] in ("VmHWM", "ru_maxrss")
    # [64, 64] A, D^-1/2 A D^-1/2, L and their gradients dwarf the [64, 3] factors.
    assert explicit["analytic_mb"] > 2 * sgc["analytic_mb"] > 2 * dense["analytic_mb"]


def test_graph_flops_by_hand():
    w = tf.Variable(tf.ones((32, 16)))
    fn = tf.function(lambda x: tf.matmul(x, w))
    concrete = fn.get_concrete_function(tf.TensorSpec((4, 32), tf.float32))
    assert bench.graph_flops(concrete.graph)[0] == 2 * 4 * 32 * 16


def test_batch_matmul_flops_with_adjoint():
    # [2, 8, 3]^T x [2, 8, 5] -> [2, 3, 5]: inner dimension 8 (TF's own statistic reads 3).
    fn = tf.function(lambda a, b: tf.matmul(a, b, adjoint_a=True))
    concrete = fn.get_concrete_function(tf.TensorSpec((2, 8, 3)), tf.TensorSpec((2, 8, 5)))
    assert bench.graph_flops(concrete.graph)[0] == 2 * 8 * (2 * 3 * 5)


def test_trace_summary(tmp_path):
    fn = tf.function(lambda x: tf.nn.relu(tf.matmul(x, x)))
    x = tf.ones((16, 16))
    fn(x)
    tf.profiler.experimental.start(str(tmp_path))
    fn(x).numpy()
    tf.profiler.experimental.stop()
    by_type, _ = bench.summarize_trace(str(tmp_path))
    assert "MatMul" in by_type


def test_canonical_op_type_reads_onednn_and_fused_spellings():
    for spelling, plain in [
        ("MatMul", "MatMul"), ("_MklMatMul", "MatMul"), ("_MklNativeMatMul", "MatMul"),
        ("_FusedMatMul", "MatMul"), ("_MklFusedMatMul", "MatMul"), ("_MklNativeFusedMatMul", "MatMul"),
        ("_FusedConv2D", "Conv2D"), ("_MklNativeFusedConv2D", "Conv2D"), ("_MklConv2D", "Conv2D"),
        ("_MklNativeConv2DBackpropInput", "Conv2DBackpropInput"),
        ("_MklFusedBatchMatMulV2", "BatchMatMulV2"), ("_MklBatchMatMulV2", "BatchMatMulV2"),
        ("_MklNativeFusedDepthwiseConv2dNative", "DepthwiseConv2dNative"),
        ("_MklFusedBatchNormV3", "FusedBatchNormV3"), ("_FusedBatchNormEx", "_FusedBatchNormEx"),
        ("Relu", "Relu"), ("_Retval", "_Retval"),
    ]:
        assert bench.canonical_op_type(spelling) == plain, spelling


def _rewritten_op(graph, op_type, inputs, **attrs):
    """An op of ``op_type`` (a oneDNN / grappler spelling) built directly into ``graph``."""
    float32 = tf.float32.as_datatype_enum
    values = {"T": tf.compat.v1.AttrValue(type=float32)}
    for key, value in attrs.items():
        if key == "TArgs":  # list of types of the fused ops' arguments
            values[key] = tf.compat.v1.AttrValue(
                list=tf.compat.v1.AttrValue.ListValue(type=[float32] * value))
        elif isinstance(value, bool):
            values[key] = tf.compat.v1.AttrValue(b=value)
        elif isinstance(value, int):
            values[key] = tf.compat.v1.AttrValue(i=value)
        elif isinstance(value, bytes):
            values[key] = tf.compat.v1.AttrValue(s=value)
        else:
            values[key] = tf.compat.v1.AttrValue(list=tf.compat.v1.AttrValue.ListValue(
                **({"s": value} if isinstance(value[0], bytes) else {"i": value})))
    name = f"op{len(graph.get_operations())}"
    return graph._create_op_internal(op_type, inputs, [tf.float32], name=name, attrs=values)


def test_graph_flops_counts_both_op_spellings():
    # The traced graph holds plain ops; oneDNN (AVX-512 CPUs) and grappler's remapper run
    # `_MklMatMul`, `_FusedMatMul`, `_MklNativeFusedConv2D`, ... instead: same FLOPs, plus one
    # per output element for a fused BiasAdd (the unfused BiasAdd's statistic).
    g = tf.Graph()
    with g.as_default():
        a = tf.compat.v1.placeholder(tf.float32, (4, 32))
        b = tf.compat.v1.placeholder(tf.float32, (32, 16))
        bias = tf.compat.v1.placeholder(tf.float32, (16,))
        x = tf.compat.v1.placeholder(tf.float32, (2, 8, 8, 3))
        w = tf.compat.v1.placeholder(tf.float32, (3, 3, 3, 5))
        cbias = tf.compat.v1.placeholder(tf.float32, (5,))
        matmul = 2 * 4 * 32 * 16
        conv = 2 * (2 * 8 * 8 * 5) * (3 * 3 * 3)
        plain = tf.matmul(a, b).op
        plain_conv = tf.nn.conv2d(x, w, strides=1, padding="SAME").op
        mm = dict(transpose_a=False, transpose_b=False)
        fused_mm = dict(mm, num_args=1, fused_ops=[b"BiasAdd", b"Relu"])
        conv_attrs = dict(strides=[1, 1, 1, 1], padding=b"SAME", data_format=b"NHWC",
                          dilations=[1, 1, 1, 1], num_args=1, num_host_args=0,
                          fused_ops=[b"BiasAdd", b"Relu"])
        ops = {
            "MatMul": (plain, matmul),
            "_MklMatMul": (_rewritten_op(g, "_MklMatMul", [a, b], **mm), matmul),
            "_FusedMatMul": (_rewritten_op(g, "_FusedMatMul", [a, b, bias], **fused_mm),
                             matmul + 4 * 16),
            "_MklNativeFusedMatMul": (
                _rewritten_op(g, "_MklNativeFusedMatMul", [a, b, bias], **fused_mm), matmul + 4 * 16),
            "Conv2D": (plain_conv, conv),
            "_FusedConv2D": (_rewritten_op(g, "_FusedConv2D", [x, w, cbias], TArgs=1, **conv_attrs),
                             conv + 2 * 8 * 8 * 5),
            "_MklNativeFusedConv2D": (
                _rewritten_op(g, "_MklNativeFusedConv2D", [x, w, cbias], TArgs=1, **conv_attrs),
                conv + 2 * 8 * 8 * 5),
        }
    for spelling, (op, expected) in ops.items():
        assert op.type == spelling
        assert bench.op_flops(g, op) == expected, spelling
    assert bench.graph_flops(g)[0] == sum(expected for _, expected in ops.values())
