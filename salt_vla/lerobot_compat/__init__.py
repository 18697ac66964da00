"""Every difference between the LeRobot versions salt-vla meets, in one place.

LeRobot 0.4.4 is the newest for Python 3.11; LeRobot >= 0.5 needs Python >= 3.12. The differences are handled by
inspecting what is installed (a module path, a keyword a signature has, a package's declared requirements), not
by reading version numbers where that can be avoided:

- :mod:`~salt_vla.lerobot_compat.datasets`: recording and reading ``LeRobotDataset`` (module path, the task
  string, ``create``/``save_episode`` keywords, the video codec, ``finalize``, joining datasets, quiet encoders);
- :mod:`~salt_vla.lerobot_compat.policies`: loading policies (Pi0's transformers requirements, config and processor
  registration, the noise argument of flow-matching policies);
- :mod:`~salt_vla.lerobot_compat.training`: ``TrainPipelineConfig`` fields renamed between versions, the image
  transforms' config classes (moved in 0.5), a cosine learning-rate decay in place of a policy's preset;
- :mod:`~salt_vla.lerobot_compat.columns`: ACT's action chunk served from cached columns (LeRobot's own query
  decodes whole rows of image datasets).

It lives in the core, not in a plugin, so that both the so101 plugin (recording) and the lerobot plugin (policies)
use it without depending on each other, and nothing here imports LeRobot at module level: a user who only evaluates
scripted policies never loads LeRobot (a test imports both plugins and checks). :func:`require_lerobot` imports it,
raising :class:`~salt_vla.extras.LeRobotMissingError` with the install line when it is missing.
"""

from salt_vla.lerobot_compat.columns import column_cached_reader, enable_column_queries
from salt_vla.lerobot_compat.datasets import (
    add_frame,
    aggregate,
    create_dataset,
    dataset_class,
    discard_episode,
    finalize,
    load_dataset,
    quiet_recording,
    rgb_encoder_config,
    save_episode,
)
from salt_vla.lerobot_compat.policies import (
    FLOW_MATCHING_FAMILIES,
    OWN_FAMILIES,
    PI_FAMILIES,
    check_family_supported,
    check_transformers_declared,
    declared_requirement,
    get_policy_class,
    load_config,
    load_policy,
    load_processors,
    predict_action_chunk,
    register_family,
    register_own_family,
)
from salt_vla.lerobot_compat.training import (
    cosine_decay,
    image_transforms_config,
    make_policy_config,
    run_training,
    train_pipeline_config,
)
from salt_vla.lerobot_compat.versions import (
    INSTALL_HINT,
    LeRobotMissingError,
    LeRobotVersionError,
    lerobot_version,
    require_lerobot,
    version_text,
)

__all__ = [
    "FLOW_MATCHING_FAMILIES", "INSTALL_HINT", "OWN_FAMILIES", "PI_FAMILIES",
    "LeRobotMissingError", "LeRobotVersionError", "add_frame", "aggregate", "check_family_supported",
    "check_transformers_declared", "column_cached_reader", "cosine_decay", "create_dataset", "dataset_class", "declared_requirement",
    "discard_episode", "enable_column_queries", "finalize", "get_policy_class", "image_transforms_config",
    "lerobot_version", "load_config",
    "load_dataset", "load_policy", "load_processors", "make_policy_config", "predict_action_chunk", "quiet_recording",
    "register_family", "register_own_family", "require_lerobot", "rgb_encoder_config", "run_training",
    "save_episode", "train_pipeline_config", "version_text",
]
