import pytest

from lutsim.reports.flow.scaling import (
    _ENERGY,
    _POWER,
    DEFAULT_MODEL,
    MODELS,
    STILLMAKER_NODES_NM,
    _poly,
    scale_factors,
    scale_numbers,
)

SM = "stillmaker-2017"
NUMBERS = {"area_um2": 1000.0, "critical_path_ns": 5.0, "clock_ns": 10.0, "fmax_mhz": 200.0,
           "power_mw": 2.0, "energy_pj_per_cycle": 20.0}  # fmt: skip


# ---- stillmaker-2017 against the paper's own printed numbers ------------------------------
def test_corrigendum_energy_example():
    """The corrigendum to Section 4.2.1: 1 pJ/op at 65 nm and 1.3 V is 0.1755 pJ/op at 32 nm
    and 0.9 V, from Table 5's energy rows of those nodes."""
    x = _poly(_ENERGY[32], 0.9)  # EnergyFactor_x = 0.8367(0.9)² - 0.4341(0.9) + 0.1701
    y = _poly(_ENERGY[65], 1.3)  # EnergyFactor_y = 3.755(1.3)² - 4.398(1.3) + 1.975
    assert round(x, 4) == 0.4571
    assert round(y, 3) == 2.604
    assert round(round(x, 4) / round(y, 3), 4) == 0.1755  # the corrigendum rounds x and y first
    s = scale_numbers({"energy_pj_per_cycle": 1.0}, 65, 32, SM, from_v=1.3, to_v=0.9)
    assert s["energy_pj_per_cycle"] == pytest.approx(x / y, rel=1e-12)
    assert s["energy_pj_per_cycle"] == pytest.approx(0.1755, abs=1e-4)


def test_area_is_table4_row_180():
    assert scale_factors(180, 7, SM, 1.8, 0.7)["area"] == 0.0032
    assert scale_factors(180, 45, SM, 1.8)["area"] == 0.053
    assert scale_factors(180, 180, SM, 1.8, 1.8)["area"] == 1.0
    assert scale_factors(45, 32, SM)["area"] == pytest.approx(0.025 / 0.053)


def test_same_node_and_voltage_is_identity():
    for nm in STILLMAKER_NODES_NM:
        assert scale_factors(nm, nm, SM, 0.8, 0.8) == {
            "area": 1.0, "delay": 1.0, "energy": 1.0, "power": 1.0, "power_fit": 1.0
        }, f"{nm} nm"  # fmt: skip


def test_nominal_voltages_are_the_cited_ones():
    s = scale_numbers(NUMBERS, 180, 32, SM, from_v=1.8)
    assert (s["from_v"], s["to_v"]) == (1.8, 0.9)
    assert s["node"] == (
        "32 nm at 0.9 V (scaled from 180 nm by the Stillmaker-Baas fitted scaling equations, "
        "not synthesized)"
    )
    assert s["scaled"] is True and s["model"] == SM and "Stillmaker" in s["source"]
    assert scale_numbers(NUMBERS, 45, 32, SM)["from_v"] == 1.0


def test_each_quantity_by_its_own_factor():
    s = scale_numbers(NUMBERS, 180, 7, SM, from_v=1.8, to_v=0.7)
    f = s["factors"]
    assert s["area_um2"] == pytest.approx(1000.0 * f["area"], rel=1e-12)
    assert s["critical_path_ns"] == pytest.approx(5.0 * f["delay"], rel=1e-12)
    assert s["clock_ns"] == pytest.approx(10.0 * f["delay"], rel=1e-12)
    assert s["fmax_mhz"] == pytest.approx(200.0 / f["delay"], rel=1e-12)
    assert s["power_mw"] == pytest.approx(2.0 * f["power"], rel=1e-12)
    assert s["energy_pj_per_cycle"] == pytest.approx(20.0 * f["energy"], rel=1e-12)
    assert all(0 < v < 1 for v in f.values()), f  # 7 nm is smaller, faster and cheaper
    # power at the scaled clock is energy per cycle over the clock period, as synthesized
    ratio = s["power_mw"] * s["clock_ns"] / s["energy_pj_per_cycle"]
    assert ratio == pytest.approx(2.0 * 10.0 / 20.0, rel=1e-12)
    assert f["power_fit"] == pytest.approx(
        _poly(_POWER[7], 0.7) / _poly(_POWER[180], 1.8), rel=1e-12
    )  # reported, not applied


@pytest.mark.parametrize("model", list(MODELS))
def test_ratios_between_designs_are_preserved(model):
    a = NUMBERS
    b = {k: v * (1 + i) for i, (k, v) in enumerate(NUMBERS.items())}
    for nm, volts in ((32, 0.9), (7, 0.7), (130, 1.3)):
        sa = scale_numbers(a, 180, nm, model, from_v=1.8, to_v=volts)
        sb = scale_numbers(b, 180, nm, model, from_v=1.8, to_v=volts)
        for key in NUMBERS:
            assert sb[key] / sa[key] == pytest.approx(b[key] / a[key], rel=1e-12), (key, nm)


def test_none_passes_through():
    s = scale_numbers({"fmax_mhz": None, "area_um2": 1.0, "other": 3.0}, 180, 32, SM, 1.8)
    assert s["fmax_mhz"] is None and "other" not in s


# ---- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((180, 28, SM, 1.8, 0.9),
         r"^stillmaker-2017 tabulates 180, 130, 90, 65, 45, 32, 20, 16, 14, 10, 7 nm, not 28 nm$"),
        ((350, 7, SM, 3.3, 0.7),
         r"^stillmaker-2017 tabulates 180, 130, 90, 65, 45, 32, 20, 16, 14, 10, 7 nm, not 350 nm$"),
        ((180, 22.5, SM, 1.8, 0.8),
         r"^stillmaker-2017 tabulates 180, 130, 90, 65, 45, 32, 20, 16, 14, 10, 7 nm, "
         r"not 22\.5 nm$"),
        ((180, float("inf"), SM, 1.8, 0.7),
         r"^stillmaker-2017 tabulates 180, 130, 90, 65, 45, 32, 20, 16, 14, 10, 7 nm, not inf nm$"),
        ((180, 7, SM, 1.8), r"^stillmaker-2017 has no cited nominal voltage at 7 nm: give the voltage$"),
        ((180, 32, SM), r"^stillmaker-2017 has no cited nominal voltage at 180 nm: give the voltage$"),
        ((180, 32, SM, 1.8, 0.0), r"^a supply voltage must be positive, not 0\.0$"),
        ((180, 7, SM, 0.5, 0.7),
         r"^stillmaker-2017 energy is not positive at 180 nm, 0\.5 V or 7 nm, 0\.7 V: outside the "
         r"fit$"),
        ((180, 7, "itrs"),
         r"^scaling model must be one of dennard-1974, stillmaker-2017, not 'itrs'$"),
        ((-180, 7), r"^nodes must be positive nanometres, not -180 and 7$"),
    ],
)  # fmt: skip
def test_errors(args, message):
    with pytest.raises(ValueError, match=message):
        scale_numbers(NUMBERS, *args)
    with pytest.raises(ValueError, match=message):
        scale_factors(*args)


# ---- dennard-1974 ----------------------------------------------------------------------------
def test_dennard_is_the_default_and_unchanged():
    assert DEFAULT_MODEL == "dennard-1974"
    s = scale_numbers(NUMBERS, 180, 28)
    kappa = 180 / 28
    assert s["kappa"] == kappa and s["model"] == "dennard-1974"
    assert (
        s["node"]
        == "28 nm (scaled from 180 nm by classical constant-field scaling, not synthesized)"
    )
    assert s["area_um2"] == 1000.0 / kappa**2
    assert s["critical_path_ns"] == 5.0 / kappa and s["clock_ns"] == 10.0 / kappa
    assert s["fmax_mhz"] == 200.0 / kappa**-1
    assert s["power_mw"] == 2.0 / kappa**2
    assert s["energy_pj_per_cycle"] == 20.0 / kappa**3
    assert scale_numbers(NUMBERS, 180, 28, from_v=1.8, to_v=0.9) == s  # voltages scale with κ
    assert scale_numbers(NUMBERS, 56, 28)["energy_pj_per_cycle"] == 20.0 / 8  # any node
