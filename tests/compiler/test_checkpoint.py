"""Quantized checkpoints written by their libraries' own writers, converted and run."""

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from lutsim.compiler import compile_model
from lutsim.compiler.checkpoint import (
    AWQ_ORDER,
    check_layer,
    core_for,
    gguf_weight,
    load_checkpoint,
    pack_bitnet,
    pack_int32,
    q4k_scales,
    random_activations,
    unpack_bitnet,
    unpack_int32,
)
from lutsim.compiler.model import model_from_dict
from lutsim.isa.config import load_config


def small_model(hidden: int = 64, inter: int = 128, layers: int = 2):
    return model_from_dict({"architectures": ["LlamaForCausalLM"], "hidden_size": hidden,
                            "intermediate_size": inter, "num_hidden_layers": layers,
                            "num_attention_heads": 4, "num_key_value_heads": 2,
                            "vocab_size": 100}, name="small")  # fmt: skip


def write_gptq(path, model, group=32, act_order=False, bits=4, seed=0):
    """A GPTQ checkpoint: packed qweight/qzeros (zeros stored minus 1), fp16 scales, g_idx."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for g in compile_model(model).gemms():
        top = 2**bits
        q = rng.integers(0, top, (g.k, g.n))
        z = rng.integers(0, top, (g.k // group, g.n))
        rows = np.arange(g.k) // group
        prefix = f"model.{g.name}."
        tensors[prefix + "qweight"] = pack_int32(q, bits, axis=0)
        tensors[prefix + "qzeros"] = pack_int32(z, bits, axis=1)
        tensors[prefix + "scales"] = (rng.random((g.k // group, g.n)) / 50).astype(np.float16)
        tensors[prefix + "g_idx"] = (rng.permutation(rows) if act_order else rows).astype(np.int32)
    save_file(tensors, str(path))
    return tensors


def write_awq(path, model, group=32, seed=0):
    rng = np.random.default_rng(seed)
    tensors = {}
    for g in compile_model(model).gemms():
        prefix = f"model.{g.name}."
        tensors[prefix + "qweight"] = pack_int32(rng.integers(0, 16, (g.k, g.n)), 4, 1, AWQ_ORDER)
        tensors[prefix + "qzeros"] = pack_int32(rng.integers(0, 16, (g.k // group, g.n)), 4, 1,
                                                AWQ_ORDER)  # fmt: skip
        tensors[prefix + "scales"] = (rng.random((g.k // group, g.n)) / 50).astype(np.float16)
    save_file(tensors, str(path))


def write_bitnet(path, model, seed=0):
    rng = np.random.default_rng(seed)
    tensors = {}
    for g in compile_model(model).gemms():
        prefix = f"model.{g.name}."
        tensors[prefix + "weight"] = pack_bitnet(rng.integers(0, 3, (g.n, g.k)))
        tensors[prefix + "weight_scale"] = np.array([rng.random() * 4 + 0.5], dtype=np.float32)
    save_file(tensors, str(path))


GGUF_NAMES = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output",
              "gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down"}  # fmt: skip


K_QUANTS = {"Q4_K": (144, 0), "Q5_K": (176, 0), "Q6_K": (210, 208)}  # bytes, where d sits


def kquant_blocks(rng, rows: int, blocks: int, kind: str = "Q4_K") -> np.ndarray:
    """Random K-quant super-blocks: any bytes are a valid block once the fp16 scales (d and
    dmin; Q6_K: d) are finite."""
    size, at = K_QUANTS[kind]
    raw = rng.integers(0, 256, (rows, blocks, size), dtype=np.uint8)
    halves = 1 if kind == "Q6_K" else 2
    scales = (rng.random((rows, blocks, halves)) / 64).astype(np.float16)
    raw[..., at : at + 2 * halves] = scales.view(np.uint8).reshape(rows, blocks, 2 * halves)
    return raw.reshape(rows, blocks * size)


def write_gguf(path, model, kind: str, seed=0):
    """Every LUT GEMM quantized by ``gguf``'s own quantizer (K-quants: random super-blocks,
    ``gguf`` has no K-quant quantizer) and written by ``gguf.GGUFWriter``."""
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "llama")
    for g in compile_model(model).gemms():
        if kind in K_QUANTS:
            raw = kquant_blocks(rng, g.n, g.k // 256, kind)
        else:
            raw = gguf.quants.quantize(rng.standard_normal((g.n, g.k)).astype(np.float32), Q[kind])
        writer.add_tensor(f"blk.{g.layer}.{GGUF_NAMES[g.part]}.weight", raw, raw_shape=raw.shape,
                          raw_dtype=Q[kind])  # fmt: skip
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _check_all(path, model, act: str = "int8", rows: int = 3):
    cfg = load_config()
    gemms = compile_model(model, tokens=rows).gemms()
    weights = load_checkpoint(path, gemms)
    core = core_for(cfg.replace(act_format=act) if act != "int8" else cfg, weights)
    out = []
    for i, (name, w) in enumerate(weights.items()):
        a = random_activations(core, rows, w.reference.shape[1], seed=i)
        out.append(check_layer(core, name, w, a))
    return core, out


@pytest.mark.parametrize("act_order", [False, True])
@pytest.mark.parametrize("bits", [4, 2])
def test_gptq_exact(tmp_path, act_order, bits):
    path = tmp_path / "gptq.safetensors"
    write_gptq(path, small_model(), act_order=act_order, bits=bits)
    core, checks = _check_all(path, small_model())
    assert core.weight_bits == bits and len(checks) == 14
    for c in checks:
        assert c.ok, c
        assert (c.weight_mismatches, c.algorithm_mismatches, c.dot_mismatches) == (0, 0, 0)
        assert c.format == f"gptq-int{bits}"


def test_act_order_is_a_permutation_of_k(tmp_path):
    path = tmp_path / "gptq.safetensors"
    tensors = write_gptq(path, small_model(), act_order=True)
    gemm = compile_model(small_model()).gemms()[0]
    w = load_checkpoint(path, [gemm])[gemm.name]
    g_idx = tensors[f"model.{gemm.name}.g_idx"]
    assert w.gather is not None and np.array_equal(np.sort(w.gather), np.arange(gemm.k))
    assert np.all(np.diff(g_idx[w.gather]) >= 0), "groups are contiguous after the permutation"


def test_awq_and_bitnet_exact(tmp_path):
    write_awq(tmp_path / "awq.safetensors", small_model())
    write_bitnet(tmp_path / "bitnet.safetensors", small_model())
    for name, fmt in (("awq", "awq-int4"), ("bitnet", "bitnet-b1.58")):
        core, checks = _check_all(tmp_path / f"{name}.safetensors", small_model())
        assert all(c.ok and c.format == fmt and c.dot_mismatches == 0 for c in checks), checks
    assert core.ternary


def test_float_activations_within_bound(tmp_path):
    write_gptq(tmp_path / "gptq.safetensors", small_model(), act_order=True)
    core, checks = _check_all(tmp_path / "gptq.safetensors", small_model(), act="fp16")
    assert not core.exact
    assert all(c.ok and c.dot_mismatches is None and 0 < c.residual <= c.bound for c in checks)


@pytest.mark.parametrize("kind", ["Q4_0", "Q8_0", "TQ1_0", "TQ2_0", "Q4_K", "Q5_K", "Q6_K"])
def test_gguf_against_its_own_dequantization(tmp_path, kind):
    model = small_model(hidden=256, inter=256, layers=1)
    write_gguf(tmp_path / "m.gguf", model, kind)
    core, checks = _check_all(tmp_path / "m.gguf", model)
    assert len(checks) == 7
    for c in checks:
        assert c.ok, c
        assert c.format == f"gguf-{kind}" and c.dot_mismatches == 0
        assert c.gguf_residual <= c.gguf_bound
    assert core.ternary == kind.startswith("TQ")
    assert checks[0].core_k == (512 if kind in ("Q8_0", "Q5_K", "Q6_K") else 256)


def test_gguf_exact_types_equal_ggufs_float32_values(tmp_path):
    """Q4_0, Q8_0 and the ternary types dequantize to values float32 holds exactly."""
    model = small_model(hidden=256, inter=256, layers=1)
    for kind in ("Q4_0", "Q8_0", "TQ1_0", "TQ2_0"):
        write_gguf(tmp_path / f"{kind}.gguf", model, kind)
        for w in load_checkpoint(tmp_path / f"{kind}.gguf", compile_model(model).gemms()).values():
            assert np.array_equal(w.reference, w.gguf_reference), kind


# ---- layouts: pack/unpack laws -----------------------------------------------------------------
@given(st.data())
@settings(max_examples=50, deadline=None)
def test_int32_packing_round_trips(data):
    bits = data.draw(st.sampled_from([2, 4]))
    per = 32 // bits
    rows, words = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
    order = data.draw(st.sampled_from([None, AWQ_ORDER])) if bits == 4 else None
    seed = data.draw(st.integers(0, 2**32 - 1))
    codes = np.random.default_rng(seed).integers(0, 2**bits, (rows, words * per))
    for axis in (0, 1):
        c = codes if axis == 1 else codes.T
        packed = pack_int32(c, bits, axis, order)
        assert packed.dtype == np.int32
        assert np.array_equal(unpack_int32(packed, bits, axis, order), c)


def test_awq_order_places_columns():
    codes = np.arange(8)[None, :]  # column j holds code j
    word = int(pack_int32(codes, 4, 1, AWQ_ORDER).view(np.uint32)[0, 0])
    nibbles = [(word >> (4 * i)) & 15 for i in range(8)]
    assert nibbles == list(AWQ_ORDER), f"{word:08x}: nibble i holds column order[i]"


@given(st.integers(1, 6), st.integers(1, 9), st.integers(0, 2**32 - 1))
@settings(max_examples=30, deadline=None)
def test_bitnet_packing_round_trips(rows, cols, seed):
    codes = np.random.default_rng(seed).integers(0, 3, (4 * rows, cols))
    packed = pack_bitnet(codes)
    assert packed.shape == (rows, cols) and np.array_equal(unpack_bitnet(packed), codes)


@given(st.integers(0, 2**32 - 1),
       st.sampled_from(["Q4_0", "Q8_0", "TQ1_0", "TQ2_0", "Q4_K", "Q5_K", "Q6_K"]))  # fmt: skip
@settings(max_examples=25, deadline=None)
def test_gguf_decoding_matches_gguf(seed, kind):
    """Our reading of each block layout equals ``gguf``'s dequantization on random blocks."""
    rng = np.random.default_rng(seed)
    if kind in K_QUANTS:
        raw = kquant_blocks(rng, 3, 2, kind)
    else:
        raw = gguf.quants.quantize(rng.standard_normal((3, 512)).astype(np.float32), Q[kind])
    w = gguf_weight("t", kind, raw, (3, 512))
    assert np.allclose(w.reference, w.gguf_reference, rtol=2**-22, atol=0)
    assert np.array_equal(w.dense(), w.reference)


def test_q4k_scale_unpacking():
    # scales 0..7 and mins 8..15, packed by the layout's bit diagram
    sc, mn = np.arange(8) * 9, np.arange(8) * 7 + 3
    packed = np.zeros(12, dtype=np.int64)
    packed[0:4] = (sc[:4] & 63) | ((sc[4:] >> 4) << 6)
    packed[4:8] = (mn[:4] & 63) | ((mn[4:] >> 4) << 6)
    packed[8:12] = (sc[4:] & 15) | ((mn[4:] & 15) << 4)
    got = q4k_scales(packed.astype(np.uint8))
    assert np.array_equal(got[0], sc) and np.array_equal(got[1], mn)


# ---- errors ------------------------------------------------------------------------------------
def test_checkpoint_errors(tmp_path):
    model = small_model()
    gemms = compile_model(model).gemms()
    write_gguf(tmp_path / "q4.gguf", small_model(256, 256, 1), "Q4_0")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 10)
    save_file({"model.layers.0.self_attn.q_proj.weight": np.zeros((64, 64), np.float16)},
              str(tmp_path / "float.safetensors"))  # fmt: skip
    writer = gguf.GGUFWriter(str(tmp_path / "q2.gguf"), "llama")
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((256, 84), np.uint8), raw_shape=(256, 84),
                      raw_dtype=Q.Q2_K)  # fmt: skip
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file,
                 writer.write_tensors_to_file, writer.close):  # fmt: skip
        step()
    cases = [
        ("none.gguf", f"cannot read checkpoint '{tmp_path / 'none.gguf'}': no such file"),
        ("q4.gguf", "q4.gguf: blk.0.attn_q.weight is 256x256; layers.0.self_attn.q_proj is 64x64 "
                    "(N x K)"),
        ("float.safetensors", "float.safetensors: layers.0.self_attn.q_proj: not quantized "
                              "(float16); formats: GPTQ, AWQ, BitNet b1.58, GGUF"),
        ("q2.gguf", "q2.gguf: blk.0.attn_q.weight: GGUF type Q2_K is not converted; supported: "
                    "Q4_0, Q8_0, TQ1_0, TQ2_0, Q4_K, Q5_K, Q6_K"),
    ]  # fmt: skip
    big = compile_model(small_model(256, 256, 1)).gemms()
    for name, message in cases:
        with pytest.raises(ValueError) as info:
            load_checkpoint(tmp_path / name, (big if name == "q2.gguf" else gemms)[:1])
        assert str(info.value) == message, name
    with pytest.raises(ValueError) as info:
        gguf_weight("t", "IQ2_XXS", np.zeros((1, 66), np.uint8), (1, 256))
    assert str(info.value) == (
        "t: GGUF type IQ2_XXS indexes a non-uniform codebook, which no s (q - z) of the LUT core "
        "reproduces exactly; supported: Q4_0, Q8_0, TQ1_0, TQ2_0, Q4_K, Q5_K, Q6_K"
    )
    with pytest.raises(ValueError) as info:  # a tensor of the right shape, K not whole blocks
        gguf_weight("t", "Q4_0", np.zeros((32, 2), np.uint8), (32, 64 + 16))
    assert str(info.value) == "t: a Q4_0 tensor of 32x80 needs K a multiple of 32"
    with pytest.raises(ValueError, match=r"^cannot read checkpoint 'bad.safetensors': "):
        load_checkpoint(tmp_path / "bad.safetensors", gemms)
    with pytest.raises(ValueError, match=r"^checkpoint 'x.bin': expected a .safetensors or "):
        (tmp_path / "x.bin").write_bytes(b"")
        load_checkpoint(tmp_path / "x.bin", gemms)


def test_uneven_act_order_groups_are_refused(tmp_path):
    path = tmp_path / "gptq.safetensors"
    tensors = write_gptq(path, small_model(), act_order=True)
    key = "model.layers.0.self_attn.q_proj.g_idx"
    tensors[key] = np.where(np.arange(64) < 40, 0, 1).astype(np.int32)
    save_file(tensors, str(path))
    gemm = compile_model(small_model()).gemms()[0]
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, [gemm])
    assert str(info.value) == (
        "gptq.safetensors: layers.0.self_attn.q_proj: act-order groups have 24 to 40 channels; "
        "the core needs equal groups of 32"
    )


def test_gguf_experts_are_read_per_expert(tmp_path):
    """llama.cpp stores a layer's experts as one 3-D tensor ``[E, N, K]``; each routed
    expert's GEMM takes its slice."""
    model = model_from_dict({"architectures": ["MixtralForCausalLM"], "hidden_size": 256,
                             "intermediate_size": 256, "num_hidden_layers": 1,
                             "num_attention_heads": 4, "num_key_value_heads": 2,
                             "vocab_size": 50, "num_local_experts": 4,
                             "num_experts_per_tok": 2}, name="moe")  # fmt: skip
    rng = np.random.default_rng(3)
    writer = gguf.GGUFWriter(str(tmp_path / "moe.gguf"), "llama")
    gemms = compile_model(model, tokens=4).gemms()
    expected = {}
    for g in gemms:
        if g.expert is None:
            raw = gguf.quants.quantize(rng.standard_normal((g.n, g.k)).astype(np.float32), Q.Q4_0)
            writer.add_tensor(f"blk.0.{GGUF_NAMES[g.part]}.weight", raw, raw_shape=raw.shape,
                              raw_dtype=Q.Q4_0)  # fmt: skip
        elif g.expert == 0:
            w = rng.standard_normal((4, g.n, g.k)).astype(np.float32)
            raw = gguf.quants.quantize(w, Q.Q4_0)
            writer.add_tensor(f"blk.0.{GGUF_NAMES[g.part]}_exps.weight", raw, raw_shape=raw.shape,
                              raw_dtype=Q.Q4_0)  # fmt: skip
            expected[g.part] = gguf.quants.dequantize(raw, Q.Q4_0)
    for step in (writer.write_header_to_file, writer.write_kv_data_to_file,
                 writer.write_tensors_to_file, writer.close):  # fmt: skip
        step()
    weights = load_checkpoint(tmp_path / "moe.gguf", gemms)
    experts = [g for g in gemms if g.expert is not None]
    assert len(experts) == 12 and {g.rows for g in experts} == {2}, "4 tokens x top-2 over 4"
    for g in experts:
        assert np.array_equal(weights[g.name].gguf_reference, expected[g.part][g.expert])
        a = random_activations(load_config().replace(weight_bits=4), g.rows, g.k, seed=g.expert)
        assert check_layer(load_config().replace(weight_bits=4), g.name, weights[g.name], a).ok


def test_sharded_folder_and_gptq_v2_zeros(tmp_path):
    """A folder of shards reads as one checkpoint; ``gptq_v2`` stores zeros as they are."""
    model = small_model()
    tensors = write_gptq(tmp_path / "all.safetensors", model)
    folder = tmp_path / "sharded"
    folder.mkdir()
    keys = sorted(tensors)
    save_file({k: tensors[k] for k in keys[::2]}, str(folder / "model-00001-of-00002.safetensors"))
    save_file({k: tensors[k] for k in keys[1::2]}, str(folder / "model-00002-of-00002.safetensors"))
    gemms = compile_model(model).gemms()
    one = load_checkpoint(tmp_path / "all.safetensors", gemms)
    both = load_checkpoint(folder, gemms)
    assert all(np.array_equal(one[g.name].reference, both[g.name].reference) for g in gemms)
    (folder / "quantize_config.json").write_text('{"bits": 4, "checkpoint_format": "gptq_v2"}')
    v2 = load_checkpoint(folder, gemms)
    name = gemms[0].name
    assert np.array_equal(v2[name].zero + 1, one[name].zero)
    core, checks = _check_all(folder, model)
    assert all(c.ok and c.dot_mismatches == 0 for c in checks)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError) as info:
        load_checkpoint(empty, gemms)
    assert str(info.value) == f"checkpoint folder '{empty}' holds no .safetensors files"


def test_moe_safetensors_by_module_names(tmp_path):
    """Mixtral's experts (block_sparse_moe.experts.<e>.w1/w3/w2) are found by module name."""
    model = model_from_dict({"architectures": ["MixtralForCausalLM"], "hidden_size": 64,
                             "intermediate_size": 64, "num_hidden_layers": 1,
                             "num_attention_heads": 4, "num_key_value_heads": 2,
                             "vocab_size": 50, "num_local_experts": 4,
                             "num_experts_per_tok": 2}, name="moe")  # fmt: skip
    tensors = write_gptq(tmp_path / "moe.safetensors", model)
    assert "model.layers.0.block_sparse_moe.experts.1.w3.qweight" in tensors
    core, checks = _check_all(tmp_path / "moe.safetensors", model, rows=1)
    names = [c.name for c in checks if ".experts." in c.name]
    assert names == [f"layers.0.block_sparse_moe.experts.{e}.{w}" for e in (0, 1)
                     for w in ("w1", "w3", "w2")]  # fmt: skip
    assert all(c.ok and c.dot_mismatches == 0 for c in checks)


def test_extreme_codes_scales_and_activations():
    """Corner cases: every code at its extreme, zero points past the codes (GPTQ stores 15 for
    z = 16), the largest fp16 scale, and activations at the ends of the INT8 range."""
    from lutsim.compiler.checkpoint import gptq_weight

    n, k = 64, 128
    cfg = load_config().replace(weight_bits=4)
    a = np.where(np.arange(k) % 2, 127.0, -128.0)[None, :].repeat(2, axis=0)
    a[1] = -128.0
    for code, stored in ((15, 15), (0, 15), (15, 0), (0, 0)):
        qweight = pack_int32(np.full((k, n), code), 4, axis=0)
        qzeros = pack_int32(np.full((k // 32, n), stored), 4, axis=1)
        scales = np.full((k // 32, n), 65504.0, dtype=np.float16)
        w = gptq_weight("x", qweight, qzeros, scales, None, (n, k))
        check = check_layer(cfg, "x", w, a)
        assert check.ok and check.dot_mismatches == 0 and check.residual == 0, (code, stored)
    raw = np.zeros((n, k // 32, 34), dtype=np.uint8)
    raw[..., :2] = np.array([65504.0], dtype=np.float16).view(np.uint8)
    raw[..., 2:] = np.where(np.arange(32) % 2, 127, -128).astype(np.int8).view(np.uint8)
    w = gguf_weight("x", "Q8_0", raw.reshape(n, -1), (n, k))
    assert w.codes.min() == 0 and w.codes.max() == 15
    check = check_layer(cfg, "x", w, a)
    assert check.ok and check.residual == 0 and check.gguf_residual == 0
