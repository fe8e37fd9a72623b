"""The demo page of a checkpoint, driven in headless Chromium: it shows `pipeline`'s top-5 for an uploaded image, and a
clear message (not a traceback) for a file that is not an image or for no upload at all."""

import shutil
import socket
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from PIL import Image
from transformers import pipeline

from inductive_zoo import IsoTransformerConfig, IsoTransformerForImageClassification
from inductive_zoo.data.processing import image_processor_for

gradio = pytest.importorskip("gradio", reason="the demo extra is not installed: pip install -e '.[dev,demo]'")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from inductive_zoo.publishing.demo_page import NO_IMAGE, DemoModel, build_demo, stage_space  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)
LABELS = ["airplane", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck", "zebra"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny IsoTransformer with ten named labels, its processor and two example images."""
    directory = tmp_path_factory.mktemp("demo") / "tiny-iso-transformer"
    torch.manual_seed(0)
    config = tiny_config(IsoTransformerConfig, num_labels=10, id2label=dict(enumerate(LABELS)))
    config.label2id = {name: index for index, name in enumerate(LABELS)}
    IsoTransformerForImageClassification(config).save_pretrained(directory)
    image_processor_for(config.image_size).save_pretrained(directory)
    (directory / "examples").mkdir()
    for index, colour in enumerate([(200, 30, 30), (30, 30, 200)]):
        Image.new("RGB", (40, 40), colour).save(directory / "examples" / f"example{index}.png")
    return directory


@pytest.fixture(scope="module")
def page(checkpoint):
    demo = build_demo(DemoModel(str(checkpoint)))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}"
    demo.close()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1100"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def open_page(browser, url: str) -> WebDriverWait:
    browser.get(url)
    wait = WebDriverWait(browser, 60)
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#image input[type=file]")))
    return wait


def upload(browser, wait: WebDriverWait, path: Path) -> None:
    browser.find_element(By.CSS_SELECTOR, "#image input[type=file]").send_keys(str(path))
    wait.until(lambda driver: path.stem in driver.find_element(By.CSS_SELECTOR, "#image").text)


def test_the_page_shows_the_pipeline_s_top5_for_an_uploaded_image(page, browser, checkpoint, tmp_path):
    image_path = tmp_path / "upload.png"
    Image.new("RGB", (48, 48), (90, 160, 40)).save(image_path)
    expected = pipeline("image-classification", model=str(checkpoint), device="cpu")(Image.open(image_path), top_k=5)
    wait = open_page(browser, page)
    upload(browser, wait, image_path)
    browser.find_element(By.CSS_SELECTOR, "#classify").click()
    wait.until(lambda driver: expected[0]["label"] in driver.find_element(By.CSS_SELECTOR, "#top5").text)
    shown = browser.find_element(By.CSS_SELECTOR, "#top5").text
    positions = [shown.rindex(entry["label"]) for entry in expected]
    assert positions == sorted(positions), shown  # the five labels, in the pipeline's order
    assert f"{round(100 * expected[1]['score'])}%" in shown, shown
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert Image.open(tmp_path / "page.png").size[0] > 0


@pytest.mark.parametrize("bad", ["text renamed to png", "no upload"])
def test_a_bad_upload_shows_a_clear_message(page, browser, tmp_path, bad):
    wait = open_page(browser, page)
    if bad == "no upload":
        message = NO_IMAGE
    else:
        fake = tmp_path / "notes.png"
        fake.write_text("this is text, not an image")
        upload(browser, wait, fake)
        message = "notes.png is not an image this page can read"
    browser.find_element(By.CSS_SELECTOR, "#classify").click()
    wait.until(lambda driver: message.split(":")[0] in driver.find_element(By.TAG_NAME, "body").text)
    assert "Traceback" not in browser.find_element(By.TAG_NAME, "body").text


def test_a_space_is_staged_with_app_requirements_and_front_matter(checkpoint, tmp_path):
    files = stage_space(checkpoint, tmp_path / "space", "zoo-org/tiny")
    assert files == ["README.md", "app.py", "attention_rollout.py", "requirements.txt"]
    app = (tmp_path / "space" / "app.py").read_text()
    assert 'DEFAULT_MODEL = "zoo-org/tiny"' in app and "from attention_rollout import rollout_heatmap" in app
    assert "transformers>=5" in (tmp_path / "space" / "requirements.txt").read_text()
    readme = (tmp_path / "space" / "README.md").read_text()
    assert 'sdk: "gradio"' in readme and 'models: ["zoo-org/tiny"]' in readme
    compile(app, "app.py", "exec")


def test_publish_stages_a_space_beside_the_repository(checkpoint, tmp_path):
    from inductive_zoo.publishing.publish import main as publish_main

    argv = [str(checkpoint), "--repo-id", "zoo-org/tiny", "--allow-unevaluated", "--remote-code"]
    publish_main([*argv, "--staging-dir", str(tmp_path / "repo"), "--space-dir", str(tmp_path / "space")])
    assert (tmp_path / "space" / "app.py").is_file() and (tmp_path / "repo" / "modeling_iso_transformer.py").is_file()
    assert "inductive-zoo demo-page zoo-org/tiny" in (tmp_path / "repo" / "README.md").read_text()
