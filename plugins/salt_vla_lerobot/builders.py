"""LeRobot checkpoints with random weights, built offline: for tests, benchmarks and smoke runs.

Each builder makes a randomly initialised policy of the real LeRobot class, fits its processors to
plausible SO-101 statistics, and saves the whole checkpoint (config, weights, processors) the way
``lerobot-train`` does, so the adapters load it exactly as they load a trained one. ``size="tiny"``
is small enough for CPU tests; ``size="default"`` is LeRobot's default architecture (for latency).

- :func:`build_act`: ACT with its ResNet-18 backbone left unpretrained (no torchvision download).
- :func:`build_act_salt`: ACT with a salt-vla encoder as its backbone (policy type ``act_salt``).
- :func:`build_smolvla`: SmolVLA on a local SmolVLM config (tiny, or SmolVLM2-500M's sizes) with a
  word-level tokenizer trained here with ``tokenizers``, so nothing is fetched from the Hub.
- :func:`build_tokenizer`: that tokenizer alone.
- :func:`build_random_pi`: Pi0 / Pi0.5 at LeRobot's real sizes (they are fixed in LeRobot) with random
  weights and that tokenizer instead of PaliGemma's Hub tokenizer; LeRobot >= 0.5 only.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from salt_vla import lerobot_compat
from salt_vla.io import atomic_directory
from salt_vla.robot import SO101_CAMERAS, SO101_JOINTS

TASK = "pick up the block and place it in the bowl"
CORPUS = (
    TASK,
    "pick up the red block",
    "place the block in the bowl",
    "move the arm to the left and open the gripper",
    "grasp the cube then lift it up",
)
SMOLVLM_SPECIAL_TOKENS = {
    "fake_image_token": "<fake_token_around_image>",
    "global_image_token": "<global-img>",
    "image_token": "<image>",
    "end_of_utterance_token": "<end_of_utterance>",
}
"""The special tokens SmolVLA reads from its tokenizer (``tokenizer.fake_image_token_id`` and friends)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def so101_stats(cameras: Sequence[str] = SO101_CAMERAS, *, dim: int = len(SO101_JOINTS)) -> dict[str, dict[str, torch.Tensor]]:
    """Plausible SO-101 normalisation statistics: joints in degrees, gripper in ``[0, 100]``, ImageNet images.

    Every statistic LeRobot's modes read is present (mean/std, min/max, q01/q99, q10/q90).
    """
    mean = torch.zeros(dim)
    std = torch.full((dim,), 30.0)
    mean[-1], std[-1] = 30.0, 20.0  # gripper opening
    low, high = mean - 2 * std, mean + 2 * std
    joint = {"mean": mean, "std": std, "min": low, "max": high, "q01": low, "q99": high,
             "q10": mean - std, "q90": mean + std}
    image = {"mean": torch.tensor(IMAGENET_MEAN).view(3, 1, 1), "std": torch.tensor(IMAGENET_STD).view(3, 1, 1),
             "min": torch.zeros(3, 1, 1), "max": torch.ones(3, 1, 1)}
    stats = {"observation.state": dict(joint), "action": {k: v.clone() for k, v in joint.items()}}
    stats.update({f"observation.images.{cam}": dict(image) for cam in cameras})
    return stats


def _features(cameras: Sequence[str], image_size: tuple[int, int], dim: int) -> tuple[dict, dict]:
    from lerobot.configs.types import FeatureType, PolicyFeature

    inputs = {"observation.state": PolicyFeature(FeatureType.STATE, (dim,))}
    inputs.update({f"observation.images.{cam}": PolicyFeature(FeatureType.VISUAL, (3, *image_size)) for cam in cameras})
    return inputs, {"action": PolicyFeature(FeatureType.ACTION, (dim,))}


def save_checkpoint(policy: Any, preprocessor: Any, postprocessor: Any, directory: str | os.PathLike[str]) -> Path:
    """Save policy and processors into ``directory`` atomically (a crash leaves the old one intact)."""
    with atomic_directory(directory) as tmp:
        policy.save_pretrained(tmp)
        preprocessor.save_pretrained(tmp)
        postprocessor.save_pretrained(tmp)
    return Path(directory)


def _tiny(size: str) -> bool:
    """Whether ``size`` asks for the tiny sizes (``"tiny"``) rather than LeRobot's defaults (``"default"``)."""
    if size not in ("tiny", "default"):
        raise ValueError(f"size must be 'tiny' or 'default'; got {size!r}.")
    return size == "tiny"


def _build(config: Any, stats: Mapping[str, Mapping[str, torch.Tensor]], directory: str | os.PathLike[str], seed: int) -> Path:
    from lerobot.policies.factory import make_pre_post_processors

    torch.manual_seed(seed)
    policy = lerobot_compat.get_policy_class(config.type)(config)
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=stats)
    return save_checkpoint(policy, preprocessor, postprocessor, directory)


TINY_ACT = dict(dim_model=64, n_heads=2, dim_feedforward=128, n_encoder_layers=1, n_decoder_layers=1,
                n_vae_encoder_layers=1, latent_dim=8)
"""ACT sizes for CPU tests (about 11M parameters, most of them the ResNet-18)."""


def build_act(
    directory: str | os.PathLike[str],
    *,
    size: str = "tiny",
    cameras: Sequence[str] = SO101_CAMERAS,
    image_size: tuple[int, int] = (96, 128),
    chunk_size: int = 10,
    n_action_steps: int | None = None,
    stats: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
    seed: int = 0,
    **config: Any,
) -> Path:
    """An ACT checkpoint for ``cameras`` at ``image_size``: ``size="tiny"`` (:data:`TINY_ACT`) or ``"default"``.

    Extra keyword arguments override ``ACTConfig`` fields (e.g. ``temporal_ensemble_coeff=0.01``).
    """
    lerobot_compat.require_lerobot()
    from lerobot.policies.act.configuration_act import ACTConfig

    inputs, outputs = _features(cameras, image_size, len(SO101_JOINTS))
    settings = {**(TINY_ACT if _tiny(size) else {}), "pretrained_backbone_weights": None, "device": "cpu", **config}
    act_config = ACTConfig(input_features=inputs, output_features=outputs, chunk_size=chunk_size,
                           n_action_steps=n_action_steps or chunk_size, **settings)
    return _build(act_config, stats or so101_stats(cameras), directory, seed)


TINY_ACT_SALT = dict(TINY_ACT, encoder="vit_micro_patch8_t2",
                     encoder_overrides={"embed_dim": 24, "depth": 1, "num_heads": 2, "num_frames": 2, "img_size": 32})
"""``act_salt`` sizes for CPU tests: TINY_ACT's transformer on a one-block, 24-wide ``vit_micro_patch8_t2``."""


def build_act_salt(
    directory: str | os.PathLike[str],
    *,
    size: str = "tiny",
    cameras: Sequence[str] = SO101_CAMERAS,
    image_size: tuple[int, int] = (32, 32),
    chunk_size: int = 10,
    n_action_steps: int | None = None,
    stats: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
    seed: int = 0,
    **config: Any,
) -> Path:
    """An ``act_salt`` checkpoint (ACT on a salt-vla encoder, two frames of history by default).

    ``size="tiny"`` is :data:`TINY_ACT_SALT`; ``"default"`` is ACT's default transformer on
    ``vit_small_patch16_t2``. Extra keyword arguments override ``ACTSaltConfig`` fields (``encoder``,
    ``encoder_overrides``, ``freeze_encoder``, ``n_obs_steps``...); an ``encoder`` given replaces the tiny one
    and its overrides. The encoder's weights are random unless ``encoder`` is a checkpoint or
    ``encoder_pretrained`` names weights.
    """
    lerobot_compat.require_lerobot()
    inputs, outputs = _features(cameras, image_size, len(SO101_JOINTS))
    defaults = dict(TINY_ACT_SALT if _tiny(size) else {"encoder": "vit_small_patch16_t2"})
    if "encoder" in config:  # another encoder: the tiny one's overrides do not apply to it
        defaults.pop("encoder_overrides", None)
    settings = {**defaults, "device": "cpu", **config}
    act_config = lerobot_compat.make_policy_config("act_salt", input_features=inputs, output_features=outputs, chunk_size=chunk_size,
                                    n_action_steps=n_action_steps or chunk_size, **settings)
    return _build(act_config, stats or so101_stats(cameras), directory, seed)


def build_tokenizer(
    directory: str | os.PathLike[str] | None = None,
    *,
    corpus: Iterable[str] = CORPUS,
    special_tokens: Mapping[str, str] | None = None,
) -> Any:
    """A word-level ``PreTrainedTokenizerFast`` trained on ``corpus`` here (saved to ``directory`` if given).

    ``special_tokens`` become named attributes (``tokenizer.<name>`` and ``tokenizer.<name>_id``).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    named = dict(special_tokens or {})
    base = ["<pad>", "<unk>", "<bos>", "<eos>"]
    vocab_special = base + [t for t in named.values() if t not in base]
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(list(corpus), trainers.WordLevelTrainer(special_tokens=vocab_special))
    extra = {"extra_special_tokens": named} if named else {}
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>",
                                   eos_token="<eos>", **extra)
    if directory is not None:
        fast.save_pretrained(directory)
    return fast


TINY_SMOLVLM = {
    "text": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, max_position_embeddings=512),
    "vision": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, patch_size=16),
    "scale_factor": 2,
}
SMOLVLM2_500M = {
    "text": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
                 num_key_value_heads=5, head_dim=64, max_position_embeddings=8192, rope_theta=100000.0,
                 vocab_size=49280),
    "vision": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                   patch_size=16),
    "scale_factor": 4,
}
"""The architecture of SmolVLA's default backbone, HuggingFaceTB/SmolVLM2-500M-Video-Instruct (random weights)."""


def build_smolvlm(directory: str | os.PathLike[str], *, image_size: int = 64, size: str = "tiny") -> Path:
    """A local SmolVLM (config, tokenizer, processor; no weights) that SmolVLA can build offline."""
    from transformers import SmolVLMConfig, SmolVLMImageProcessor, SmolVLMProcessor, SmolVLMVideoProcessor

    directory = Path(directory)
    with atomic_directory(directory) as tmp:
        tokenizer = build_tokenizer(tmp, special_tokens=SMOLVLM_SPECIAL_TOKENS)
        sizes = TINY_SMOLVLM if _tiny(size) else SMOLVLM2_500M
        text = {"model_type": "llama", "vocab_size": len(tokenizer), **sizes["text"]}
        vision = {**sizes["vision"], "image_size": image_size}
        config = SmolVLMConfig(text_config=text, vision_config=vision, scale_factor=sizes["scale_factor"],
                               image_token_id=tokenizer.convert_tokens_to_ids(SMOLVLM_SPECIAL_TOKENS["image_token"]))
        config.save_pretrained(tmp)
        edge = {"longest_edge": image_size}
        processor = SmolVLMProcessor(image_processor=SmolVLMImageProcessor(size=edge, max_image_size=edge),
                                     tokenizer=tokenizer, video_processor=SmolVLMVideoProcessor(), image_seq_len=4)
        processor.save_pretrained(tmp)
    return directory


TINY_SMOLVLA = dict(num_vlm_layers=2, num_steps=3, tokenizer_max_length=16)
"""SmolVLA sizes for CPU tests (about 0.2M parameters on the tiny SmolVLM)."""


def build_smolvla(
    directory: str | os.PathLike[str],
    *,
    size: str = "tiny",
    vlm_dir: str | os.PathLike[str] | None = None,
    cameras: Sequence[str] = SO101_CAMERAS,
    image_size: tuple[int, int] = (96, 128),
    chunk_size: int = 10,
    n_action_steps: int | None = None,
    stats: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
    seed: int = 0,
    **config: Any,
) -> Path:
    """A SmolVLA checkpoint on a local SmolVLM: ``size="tiny"`` or ``"default"`` (SmolVLA's defaults on a
    backbone of SmolVLM2-500M's sizes, about 450M parameters, images padded to 512).

    The VLM directory (default: ``<directory>_vlm`` beside it) is built if missing; the checkpoint's
    config records its absolute path, as SmolVLA does with a Hub id.
    """
    lerobot_compat.require_lerobot()
    from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig

    directory = Path(directory)
    vlm = Path(vlm_dir) if vlm_dir is not None else directory.with_name(directory.name + "_vlm")
    side = 64 if _tiny(size) else 512
    if not (vlm / "config.json").is_file():
        build_smolvlm(vlm, image_size=side, size=size)
    inputs, outputs = _features(cameras, image_size, len(SO101_JOINTS))
    settings = {**(TINY_SMOLVLA if _tiny(size) else {}), "load_vlm_weights": False, "device": "cpu", **config}
    smolvla_config = SmolVLAConfig(input_features=inputs, output_features=outputs, vlm_model_name=str(vlm.resolve()),
                                   resize_imgs_with_padding=(side, side), chunk_size=chunk_size,
                                   n_action_steps=n_action_steps or chunk_size, **settings)
    return _build(smolvla_config, stats or so101_stats(cameras), directory, seed)


@contextlib.contextmanager
def local_tokenizer(family: str, tokenizer_dir: str | os.PathLike[str]):
    """While active, ``family``'s processor factory builds its tokenizer step from ``tokenizer_dir``.

    LeRobot's Pi0/Pi0.5 processor factories name the PaliGemma tokenizer by its Hub id
    (``google/paligemma-3b-pt-224``), which cannot be fetched offline; the saved processor then records
    the local directory instead, so the checkpoint loads offline too.
    """
    module = importlib.import_module(f"lerobot.policies.{family}.processor_{family}")
    original = module.TokenizerProcessorStep

    def step(**kwargs: Any) -> Any:
        kwargs["tokenizer_name"] = str(Path(tokenizer_dir).resolve())
        return original(**kwargs)

    module.TokenizerProcessorStep = step
    try:
        yield
    finally:
        module.TokenizerProcessorStep = original


def build_random_pi(
    directory: str | os.PathLike[str],
    *,
    family: str = "pi0",
    cameras: Sequence[str] = SO101_CAMERAS,
    image_size: tuple[int, int] = (96, 128),
    dtype: str = "bfloat16",
    tokenizer_dir: str | os.PathLike[str] | None = None,
    stats: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
    seed: int = 0,
    **config: Any,
) -> Path:
    """A Pi0 (``family="pi0"``) or Pi0.5 (``"pi05"``) checkpoint with random weights, built offline.

    LeRobot fixes the sizes (PaliGemma gemma_2b with a gemma_300m action expert, about 3.5B parameters),
    so this is the real architecture: useful to prove the loading and inference path and to time it,
    meaningless as a policy. Needs LeRobot >= 0.5 (raises :class:`~salt_vla.lerobot_compat.LeRobotVersionError`
    on 0.4.4). The tokenizer (default: ``<directory>_tokenizer``) is a word-level one trained here.
    """
    if family not in lerobot_compat.PI_FAMILIES:
        raise ValueError(f"build_random_pi builds {sorted(lerobot_compat.PI_FAMILIES)}; got {family!r}.")
    lerobot_compat.require_lerobot()
    lerobot_compat.check_family_supported(family)
    from lerobot.policies.factory import make_policy_config, make_pre_post_processors

    directory = Path(directory)
    tokens = Path(tokenizer_dir) if tokenizer_dir is not None else directory.with_name(directory.name + "_tokenizer")
    if not (tokens / "tokenizer.json").is_file():
        build_tokenizer(tokens)
    inputs, outputs = _features(cameras, image_size, len(SO101_JOINTS))
    pi_config = make_policy_config(family, input_features=inputs, output_features=outputs, dtype=dtype,
                                   device=config.pop("device", "cpu"), **config)
    torch.manual_seed(seed)
    policy = lerobot_compat.get_policy_class(family)(pi_config)
    with local_tokenizer(family, tokens):
        preprocessor, postprocessor = make_pre_post_processors(pi_config, dataset_stats=stats or so101_stats(cameras))
    return save_checkpoint(policy, preprocessor, postprocessor, directory)
