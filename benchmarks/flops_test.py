"""FLOP counting and trace tables on every op spelling (plain, oneDNN ``_Mkl*``, grappler
``_Fused*``): the same figures with ``TF_ENABLE_ONEDNN_OPTS=0`` and ``=1``."""
import tensorflow as tf

from benchmarks import flops


def test_graph_flops_by_hand():
    w = tf.Variable(tf.ones((32, 16)))
    fn = tf.function(lambda x: tf.matmul(x, w))
    concrete = fn.get_concrete_function(tf.TensorSpec((4, 32), tf.float32))
    assert flops.graph_flops(concrete.graph)[0] == 2 * 4 * 32 * 16


def test_batch_matmul_flops_with_adjoint():
    # [2, 8, 3]^T x [2, 8, 5] -> [2, 3, 5]: inner dimension 8 (TF's own statistic reads 3).
    fn = tf.function(lambda a, b: tf.matmul(a, b, adjoint_a=True))
    concrete = fn.get_concrete_function(tf.TensorSpec((2, 8, 3)), tf.TensorSpec((2, 8, 5)))
    assert flops.graph_flops(concrete.graph)[0] == 2 * 8 * (2 * 3 * 5)


def test_trace_summary(tmp_path):
    fn = tf.function(lambda x: tf.nn.relu(tf.matmul(x, x)))
    x = tf.ones((16, 16))
    fn(x)
    tf.profiler.experimental.start(str(tmp_path))
    fn(x).numpy()
    tf.profiler.experimental.stop()
    by_type, _ = flops.summarize_trace(str(tmp_path))
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
        assert flops.canonical_op_type(spelling) == plain, spelling


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
        assert flops.op_flops(g, op) == expected, spelling
    assert flops.graph_flops(g)[0] == sum(expected for _, expected in ops.values())
