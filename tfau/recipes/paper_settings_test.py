"""ROI-GCN / RE-Net paper settings (issue 11): ImageNet backbones in the paper presets, the
ablation switches reachable from the command line."""
import pytest

from tfau.recipes import get_recipe
from tfau.training.flags import build_parser, parse_model_options, resolve


def _resolve(method, *argv):
    recipe = get_recipe(method)
    return resolve(recipe, build_parser(recipe).parse_args(list(argv)))


@pytest.mark.parametrize("method", ["roi_gcn", "re_net", "resnet18"])
def test_paper_presets_use_imagenet_backbones(method):
    # ROI-GCN 4.1: "The backbone HRNetV2-W18 is pre-trained on ImageNet" (item 11).
    assert get_recipe(method).presets["paper"].backbone_weights == "imagenet"
    s = _resolve(method, "--preset", "paper", "--no_export")
    assert s.backbone_weights == "imagenet"
    s = _resolve(method, "--preset", "paper", "--backbone_weights", "none", "--no_export")
    assert s.backbone_weights is None


def test_oversample_flag_takes_the_recipe_aus():
    # RE-Net Table 8: AU1, AU2, AU15, AU23, AU24 duplicated once when positive.
    for method in ("re_net", "resnet18"):
        assert _resolve(method, "--preset", "tiny", "--oversample").oversample_aus == (
            1, 2, 15, 23, 24)
        assert _resolve(method, "--preset", "tiny").oversample_aus == ()
    with pytest.raises(SystemExit, match="oversample"):
        _resolve("roi_gcn", "--preset", "tiny", "--oversample")


def test_ablation_model_options_parse():
    assert parse_model_options("roi_gcn", ["use_negatives=false", "use_gcn=0",
                                           "use_supervision=no", "weighted_loss=true"]) == {
        "use_negatives": False, "use_gcn": False, "use_supervision": False,
        "weighted_loss": True}
    assert parse_model_options("re_net", ["held_out_aus=23,24", "learnable_graph=true"]) == {
        "held_out_aus": (23, 24), "learnable_graph": True}
    assert parse_model_options("re_net", ["held_out_aus=23"])["held_out_aus"] == (23,)
