"""The console in a real headless browser (Debian's chromium through chromedriver, driven
by Selenium): `python console_browser.py URL API_KEY SCREENSHOTS_DIR`.

Logs in with a wrong key (refused) and the right one, opens the workflow `welcome` and
reads its counts, opens contact `bob` and reads why the email was not sent, opens the
first outbox message, logs out; every page must be free of console errors. Saves a
screenshot of each page. Prints what it read as JSON; exits non-zero on any failure.
"""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

url, key, shots = sys.argv[1:4]
os.makedirs(shots, exist_ok=True)

options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
    options.add_argument(flag)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(options=options, service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")))
seen = {}
errors = []


def check_console(page):
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            errors.append(f"{page}: {entry.get('message')}")


def log_in(with_key):
    driver.get(url + "/console")
    field = driver.find_element(By.NAME, "key")
    field.send_keys(with_key)
    field.submit()


try:
    log_in("not-the-key")
    assert "That is not the API key." in driver.page_source, "a wrong key is refused"
    seen["wrong_key"] = "refused"
    check_console("login")

    log_in(key)
    assert driver.current_url.endswith("/console"), driver.current_url
    driver.find_element(By.LINK_TEXT, "Welcome").click()
    seen["journey_hello"] = driver.find_element(By.CSS_SELECTOR, "#step-hello .counts").text
    seen["journey_entry"] = driver.find_element(By.CSS_SELECTOR, ".entry").text
    driver.save_screenshot(os.path.join(shots, "journey.png"))
    check_console("journey")

    driver.find_element(By.LINK_TEXT, "Contacts").click()
    search = driver.find_element(By.NAME, "q")
    search.send_keys("bob@example.com")
    search.submit()
    seen["contact_title"] = driver.find_element(By.TAG_NAME, "h1").text
    seen["not_sent"] = [li.text for li in driver.find_elements(By.CSS_SELECTOR, ".timeline li.not-sent")]
    driver.save_screenshot(os.path.join(shots, "contact.png"))
    check_console("contact")

    driver.find_element(By.LINK_TEXT, "Outbox").click()
    driver.find_element(By.CSS_SELECTOR, "table a").click()
    seen["outbox_message"] = driver.find_element(By.TAG_NAME, "p").text
    driver.save_screenshot(os.path.join(shots, "outbox.png"))
    check_console("outbox message")

    driver.get(url + "/console")
    driver.find_element(By.CSS_SELECTOR, "header form button").click()
    driver.get(url + "/console")
    seen["after_logout"] = driver.current_url
finally:
    driver.quit()

seen["console_errors"] = errors
print(json.dumps(seen))
sys.exit(1 if errors else 0)
