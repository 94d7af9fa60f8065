/*
 * The pages' scripts, served from this origin (GET /pages/<name>.js) and loaded with the
 * response's nonce. Each does one ceremony a form cannot: none is needed to sign in with a
 * password, sign up, answer a code, or reset a password once its token is in the form.
 */

/** Moves a mailed link's token from the fragment (which no server ever sees) into the page's form. */
const LINK_TOKEN = `
'use strict';
(() => {
  // The invitation is accepted (or refused for good): the tab forgets the token it kept.
  if (document.querySelector('[data-forget-link-token]')) sessionStorage.removeItem('edge-users-invitation');
  let token = new URLSearchParams(location.hash.slice(1)).get('token');
  // An invitation's link may first go through /sign-in, which loses the fragment: this tab keeps it meanwhile.
  const kept = document.querySelector('[data-keep-link-token]');
  if (kept && token) sessionStorage.setItem('edge-users-invitation', token);
  if (kept && !token) token = sessionStorage.getItem('edge-users-invitation');
  if (!token) return;
  for (const input of document.querySelectorAll('input[data-link-token]')) if (!input.value) input.value = token;
  // A form that only shows what the token is for goes on by itself once it has the token.
  for (const form of document.querySelectorAll('form[data-auto-submit]')) form.requestSubmit();
})();
`

/**
 * The passkey ceremonies (WebAuthn in the browser, checked on the server by the sign-in pipeline):
 * - /sign-in: the username field's passkey autofill (conditional mediation), and the explicit
 *   **Sign in with a passkey** button, which first aborts the pending autofill request: a browser
 *   runs one WebAuthn request at a time, and a pending one would make the button's fail.
 * - /sign-in/second-step: **Use a passkey** for the step the browser's cookie holds.
 * - /account/passkeys/new: the current password, then navigator.credentials.create().
 * Each step posts a form (with the page's CSRF token) and reads JSON: options, then where to go
 * or the problem, whose words land in the page's role="alert".
 */
const PASSKEYS = `
'use strict';
(() => {
  if (!window.PublicKeyCredential) return;
  const csrf = document.querySelector('input[name="csrf_token"]')?.value ?? '';
  const fromB64u = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=')), (c) => c.charCodeAt(0)).buffer;
  const toB64u = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const descriptors = (list) => (list ?? []).map((item) => ({ ...item, id: fromB64u(item.id) }));
  const requestOptions = (o) => ({ ...o, challenge: fromB64u(o.challenge), allowCredentials: descriptors(o.allowCredentials) });
  const creationOptions = (o) => ({ ...o, challenge: fromB64u(o.challenge), user: { ...o.user, id: fromB64u(o.user.id) }, excludeCredentials: descriptors(o.excludeCredentials) });
  const asJson = (credential) => {
    const r = credential.response;
    const response = r.attestationObject
      ? { clientDataJSON: toB64u(r.clientDataJSON), attestationObject: toB64u(r.attestationObject), transports: r.getTransports ? r.getTransports() : [] }
      : { clientDataJSON: toB64u(r.clientDataJSON), authenticatorData: toB64u(r.authenticatorData), signature: toB64u(r.signature), userHandle: r.userHandle ? toB64u(r.userHandle) : null };
    return { id: credential.id, rawId: toB64u(credential.rawId), type: credential.type, authenticatorAttachment: credential.authenticatorAttachment ?? null, clientExtensionResults: credential.getClientExtensionResults(), response };
  };
  const say = (message) => {
    let alert = document.getElementById('form-error');
    if (!alert) {
      alert = document.createElement('p');
      alert.className = 'alert';
      alert.id = 'form-error';
      alert.setAttribute('role', 'alert');
      document.querySelector('main h1').after(alert);
    }
    alert.textContent = message;
  };
  const post = async (path, fields) => {
    const response = await fetch(path, { method: 'POST', body: new URLSearchParams({ csrf_token: csrf, ...fields }), credentials: 'same-origin' });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(body.detail ?? 'Something went wrong. Try again.'), { fromServer: true });
    return body;
  };
  const cancelled = (error) => error && (error.name === 'AbortError' || error.name === 'NotAllowedError');
  const fail = (error) => say(error.fromServer ? error.message : cancelled(error) ? 'The passkey prompt was closed. Try again, or use another way.' : 'This device could not use a passkey here.');

  // /sign-in: autofill, and the explicit button.
  const signInButton = document.getElementById('passkey-sign-in');
  let pending;
  const signIn = async (mediation) => {
    const { challenge_id, options } = await post('/sign-in/passkey/options', {});
    pending = new AbortController();
    const credential = await navigator.credentials.get({ publicKey: requestOptions(options), mediation, signal: pending.signal });
    const done = await post('/sign-in/passkey', { challenge_id, credential: JSON.stringify(asJson(credential)), return_to: signInButton.dataset.returnTo ?? '' });
    location.assign(done.location);
  };
  if (signInButton) {
    signInButton.hidden = false;
    signInButton.addEventListener('click', () => {
      pending?.abort();
      signIn('optional').catch(fail);
    });
    PublicKeyCredential.isConditionalMediationAvailable?.().then((available) => {
      if (available) signIn('conditional').catch((error) => { if (!cancelled(error)) fail(error); });
    });
  }

  // /sign-in/second-step: the passkey answers the step.
  const stepButton = document.getElementById('passkey-second-step');
  if (stepButton) {
    stepButton.hidden = false;
    stepButton.addEventListener('click', async () => {
      try {
        const { challenge_id, options } = await post('/sign-in/second-step/passkey/options', {});
        const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
        const done = await post('/sign-in/second-step/passkey', { challenge_id, credential: JSON.stringify(asJson(credential)), return_to: stepButton.dataset.returnTo ?? '' });
        location.assign(done.location);
      } catch (error) { fail(error); }
    });
  }

  // /account/confirm: a passkey proves it is you again (two factors on its own).
  const confirmButton = document.getElementById('passkey-confirm');
  if (confirmButton) {
    confirmButton.hidden = false;
    confirmButton.addEventListener('click', async () => {
      try {
        const { challenge_id, options } = await post('/account/confirm/passkey/options', {});
        const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
        const done = await post('/account/confirm/passkey', { challenge_id, credential: JSON.stringify(asJson(credential)), return_to: confirmButton.dataset.returnTo ?? '' });
        location.assign(done.location);
      } catch (error) { fail(error); }
    });
  }

  // /account/passkeys/new: the current password, then the device creates the passkey.
  const addForm = document.getElementById('add-passkey-form');
  if (addForm) {
    addForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const status = document.getElementById('passkey-status');
      try {
        const { challenge_id, options } = await post('/account/passkeys/options', { current_password: addForm.elements.current_password.value });
        const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
        const done = await post('/account/passkeys', { challenge_id, credential: JSON.stringify(asJson(credential)) });
        addForm.hidden = true;
        status.textContent = 'Your passkey is added.';
        if (done.recovery_codes) {
          const intro = document.createElement('p');
          intro.textContent = 'This is your first second factor. Save these recovery codes somewhere safe: each signs you in once, and they are shown only now.';
          const list = document.createElement('ol');
          list.className = 'codes';
          for (const code of done.recovery_codes) list.append(Object.assign(document.createElement('li'), { textContent: code }));
          status.after(intro, list);
        } else location.assign(done.location);
      } catch (error) { fail(error); }
    });
  }
})();
`

/** A provider flow's return (#code=…, #link_code=… or #error=…): the fragment's values go into the form, which is sent at once. */
const PROVIDER_CODE = `
'use strict';
(() => {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const form = document.getElementById('provider-code-form');
  const inputs = form ? [...form.querySelectorAll('input[data-fragment]')] : [];
  if (!inputs.some((input) => fragment.get(input.dataset.fragment))) return;
  for (const input of inputs) input.value = fragment.get(input.dataset.fragment) ?? '';
  history.replaceState(null, '', location.pathname);
  form.submit();
})();
`

export const SCRIPTS: Record<string, string> = { 'link-token': LINK_TOKEN, passkeys: PASSKEYS, 'provider-code': PROVIDER_CODE }
