"""Model Zoo-style unit test of the retina_sr bundle: train (both stages) and evaluate the trained weights, then
inference with the shipped weights, each through ``ConfigWorkflow`` on small real fundus photographs."""

import json
import os
import shutil
import tempfile
import unittest

from sr_bundle_utils import bundle_root, run_workflow, write_crop, write_fundus

BUNDLE_ROOT = bundle_root("retina_sr")  # "models/retina_sr" in the Model Zoo
TINY_NET = {"num_feat": 8, "num_conv": 2}

TEST_CASE_1 = [  # train, then evaluate what it trained
    {
        "bundle_root": BUNDLE_ROOT,
        "hr_width": 256,
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
        "hr_width": 256,
        "network_kwargs": TINY_NET,
        "num_figures": 1,
        "device": "cpu",
    },
]

TEST_CASE_2 = [  # inference with the shipped weights
    {"bundle_root": BUNDLE_ROOT, "device": "cpu"}
]


class TestRetinaSR(unittest.TestCase):
    def setUp(self):
        self.dataset_dir = tempfile.mkdtemp()
        self.output_dir = tempfile.mkdtemp()
        write_fundus(self.dataset_dir, ["hrf_05_h.jpg", "hrf_01_h.jpg", "hrf_10_dr.JPG"], width=480)

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
        self.assertEqual(len(doc["images"]), 1)  # the test split of 3 images
        self.assertIn("psnr_fov_model", doc["summary"])

    def test_infer_config(self):
        (override,) = TEST_CASE_2
        src = os.path.join(self.dataset_dir, "crop.png")
        write_crop(os.path.join(self.dataset_dir, "hrf_05_h.png"), src, 64)
        run_workflow("infer", os.path.join(BUNDLE_ROOT, "configs", "inference.json"), dataset_dir=src,
                     output_dir=self.output_dir, **override)  # fmt: skip
        self.assertTrue(os.path.isfile(os.path.join(self.output_dir, "crop_x4.png")))


if __name__ == "__main__":
    unittest.main()
