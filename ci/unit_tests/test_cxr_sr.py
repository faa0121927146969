"""Model Zoo-style unit test of the cxr_sr bundle: train (both stages) and evaluate the trained weights, then
inference with the shipped weights, each through ``ConfigWorkflow`` on small real chest radiographs (one of them
stored as RGBA)."""

import json
import os
import shutil
import tempfile
import unittest

from sr_bundle_utils import bundle_root, run_workflow, write_crop, write_radiographs

BUNDLE_ROOT = bundle_root("cxr_sr")  # "models/cxr_sr" in the Model Zoo
TINY_NET = {"num_feat": 8, "num_conv": 2}

TEST_CASE_1 = [  # train, then evaluate what it trained
    {
        "bundle_root": BUNDLE_ROOT,
        "hr_size": 256,
        "lr_patch": 16,
        "batch_size": 2,
        "patches_per_image": 2,
        "epoch_length": 2,
        "stage1_epochs": 1,
        "stage2_epochs": 1,
        "d_init_iters": 1,
        "num_workers": 0,
        "val_images": 1,
        "log_iterations": 1,
        "network_kwargs": TINY_NET,
        "discriminator_def#channels": 8,
        "discriminator_def#num_layers_d": 2,
    },
    {
        "bundle_root": BUNDLE_ROOT,
        "hr_size": 256,
        "network_kwargs": TINY_NET,
        "num_figures": 1,
        "device": "cpu",
    },
]

TEST_CASE_2 = [  # inference with the shipped weights
    {"bundle_root": BUNDLE_ROOT, "device": "cpu"}
]


class TestCxrSR(unittest.TestCase):
    def setUp(self):
        self.dataset_dir = tempfile.mkdtemp()
        self.output_dir = tempfile.mkdtemp()
        names = ["nih_00000075_000.png", "nih_00000100_000.png", "nih_00002158_000.png", "nih_00004840_000.png"]
        write_radiographs(self.dataset_dir, names, size=256)

    def tearDown(self):
        shutil.rmtree(self.dataset_dir)
        shutil.rmtree(self.output_dir)

    def test_train_eval_config(self):
        train_override, eval_override = TEST_CASE_1
        configs = os.path.join(BUNDLE_ROOT, "configs")
        run_workflow("train", os.path.join(configs, "train.json"), dataset_dir=self.dataset_dir,
                     output_dir=self.output_dir, **train_override)  # fmt: skip
        model = os.path.join(self.output_dir, "stage2", "model.pt")
        self.assertTrue(os.path.isfile(model))
        run_workflow("eval", os.path.join(configs, "evaluate.json"), check_properties=False, model_path=model,
                     dataset_dir=self.dataset_dir, output_dir=self.output_dir, **eval_override)  # fmt: skip
        doc = json.load(open(os.path.join(self.output_dir, "eval_test", "metrics.json")))
        self.assertEqual(len(doc["images"]), 1)  # the test split of 4 images
        self.assertIn("psnr_gain", doc["summary"])

    def test_infer_config(self):
        (override,) = TEST_CASE_2
        src = os.path.join(self.dataset_dir, "crop.png")
        write_crop(os.path.join(self.dataset_dir, "nih_00000075_000.png"), src, 64)
        run_workflow("infer", os.path.join(BUNDLE_ROOT, "configs", "inference.json"), dataset_dir=src,
                     output_dir=self.output_dir, **override)  # fmt: skip
        self.assertTrue(os.path.isfile(os.path.join(self.output_dir, "crop_x4.png")))


if __name__ == "__main__":
    unittest.main()
