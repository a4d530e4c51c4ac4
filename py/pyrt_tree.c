/*
 * The tree callbacks of a pyrt job: read(path), listdir(path) and
 * cancelled(), the only way the scanner sees a commit's files.  They run on
 * the py thread; each is bracketed by job->in_callback under py->mu and
 * refused once the job is cancelled, so a timed-out caller (which waits
 * until no callback is in progress) knows its tree ctx is never touched
 * after hub_py_analyze() returns (pyrt.c's DESIGN).
 */
#include "py/pyrt_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Bracket a tree callback; -ECANCELED once the job is cancelled. */
static int callback_enter(struct py_job *job)
{
	struct hub_py *py = job->py;
	int rc = 0;
	pthread_mutex_lock(&py->mu);
	if (job->cancelled)
		rc = -ECANCELED;
	else
		job->in_callback = true;
	pthread_mutex_unlock(&py->mu);
	return rc;
}

static void callback_leave(struct py_job *job)
{
	struct hub_py *py = job->py;
	pthread_mutex_lock(&py->mu);
	job->in_callback = false;
	pthread_cond_broadcast(&job->cv);
	pthread_mutex_unlock(&py->mu);
}

/* What the callbacks' capsule holds: cleared when the job ends, so a
 * callback that Python kept alive past its job raises instead of touching a
 * freed job. */
struct job_ref {
	struct py_job *job;
};

static void job_ref_free(PyObject *cap)
{
	free(PyCapsule_GetPointer(cap, "hubfs.pyrt.job"));
}

static struct py_job *job_of(PyObject *self)
{
	struct job_ref *ref = PyCapsule_GetPointer(self, "hubfs.pyrt.job");
	if (ref && !ref->job)
		PyErr_SetString(PyExc_RuntimeError, "tree callback used after its job ended");
	return ref ? ref->job : NULL;
}

static PyObject *raise_cancelled(struct py_job *job)
{
	PyErr_SetString(job->py->cancelled_exc, "job cancelled");
	return NULL;
}

static PyObject *raise_errno(int err, const char *path)
{
	PyObject *args = Py_BuildValue("(iss)", err, strerror(err), path);
	if (args) {
		PyErr_SetObject(PyExc_OSError, args);
		Py_DECREF(args);
	}
	return NULL;
}

/* Python: read(path) -> bytes | None */
static PyObject *tree_read(PyObject *self, PyObject *arg)
{
	struct py_job *job = job_of(self);
	PyObject *enc = NULL, *res = NULL;
	char *buf = NULL;
	size_t len = 0;
	int rc;
	if (!job)
		return NULL;
	if (!PyUnicode_Check(arg))
		return PyErr_Format(PyExc_TypeError, "path must be str");
	enc = PyUnicode_EncodeFSDefault(arg);
	if (!enc)
		return NULL;
	const char *path = PyBytes_AS_STRING(enc);
	if (strlen(path) != (size_t)PyBytes_GET_SIZE(enc)) {
		Py_DECREF(enc);
		Py_RETURN_NONE;
	}
	if (callback_enter(job)) {
		Py_DECREF(enc);
		return raise_cancelled(job);
	}
	rc = job->tree.read_file(job->tree.ctx, path, &buf, &len);
	callback_leave(job);
	if (rc == -ENOENT || rc == -EISDIR || rc == -ENOTDIR) {
		res = Py_None;
		Py_INCREF(res);
	} else if (rc < 0) {
		res = raise_errno(-rc, path);
	} else if (len > HUB_PY_SOURCE_MAX) {
		/* The scanner reports the size; the bytes never enter Python. */
		char size[32];
		snprintf(size, sizeof(size), "%zu", len);
		PyObject *args = Py_BuildValue("(iss)", EFBIG, size, path);
		if (args) {
			PyErr_SetObject(PyExc_OSError, args);
			Py_DECREF(args);
		}
	} else if (len > 0 && !buf) {
		res = raise_errno(EIO, path);
	} else {
		res = PyBytes_FromStringAndSize(len ? buf : "", (Py_ssize_t)len);
	}
	free(buf);
	Py_DECREF(enc);
	return res;
}

/* Python: listdir(path) -> list[str] | None */
static PyObject *tree_listdir(PyObject *self, PyObject *arg)
{
	struct py_job *job = job_of(self);
	PyObject *enc, *res = NULL;
	char **names = NULL;
	size_t n = 0, i;
	int rc;
	if (!job)
		return NULL;
	if (!PyUnicode_Check(arg))
		return PyErr_Format(PyExc_TypeError, "path must be str");
	enc = PyUnicode_EncodeFSDefault(arg);
	if (!enc)
		return NULL;
	const char *path = PyBytes_AS_STRING(enc);
	if (strlen(path) != (size_t)PyBytes_GET_SIZE(enc)) {
		Py_DECREF(enc);
		Py_RETURN_NONE;
	}
	if (callback_enter(job)) {
		Py_DECREF(enc);
		return raise_cancelled(job);
	}
	rc = job->tree.list_dir(job->tree.ctx, path, &names, &n);
	callback_leave(job);
	if (rc == -ENOENT || rc == -ENOTDIR) {
		res = Py_None;
		Py_INCREF(res);
	} else if (rc < 0) {
		res = raise_errno(-rc, path);
	} else if (n > HUB_PY_DIR_NAMES_MAX) {
		res = raise_errno(EFBIG, path);
	} else {
		res = PyList_New(0);
		for (i = 0; res && i < n; i++) {
			if (!names[i] || !names[i][0] || strchr(names[i], '/'))
				continue;
			PyObject *s = PyUnicode_DecodeFSDefault(names[i]);
			if (!s || PyList_Append(res, s) < 0) {
				Py_XDECREF(s);
				Py_CLEAR(res);
				break;
			}
			Py_DECREF(s);
		}
	}
	if (rc == 0) {
		for (i = 0; i < n; i++)
			free(names ? names[i] : NULL);
		free(names);
	}
	Py_DECREF(enc);
	return res;
}

/* Python: cancelled() -> bool (polled by the scanner's tick()) */
static PyObject *job_cancelled(PyObject *self, PyObject *unused)
{
	(void)unused;
	struct py_job *job = job_of(self);
	if (!job)
		return NULL;
	return PyBool_FromLong(atomic_load(&job->cancel));
}

static PyMethodDef read_def = {"read", tree_read, METH_O, "read(path) -> bytes or None"};
static PyMethodDef cancelled_def = {"cancelled", job_cancelled, METH_NOARGS, "cancelled() -> bool"};
static PyMethodDef listdir_def = {"listdir", tree_listdir, METH_O, "listdir(path) -> list or None"};

int hub_py_tree_fns_new(struct py_tree_fns *out, struct py_job *job)
{
	memset(out, 0, sizeof(*out));
	out->ref = malloc(sizeof(*out->ref));
	if (!out->ref) {
		PyErr_NoMemory();
		return -ENOMEM;
	}
	out->ref->job = job;
	out->cap = PyCapsule_New(out->ref, "hubfs.pyrt.job", job_ref_free);
	if (!out->cap) {
		free(out->ref);
		out->ref = NULL;
		return -ENOMEM;
	}
	out->read = PyCFunction_New(&read_def, out->cap);
	out->listdir = PyCFunction_New(&listdir_def, out->cap);
	out->cancelled = PyCFunction_New(&cancelled_def, out->cap);
	return out->read && out->listdir && out->cancelled ? 0 : -ENOMEM;
}

void hub_py_tree_fns_release(struct py_tree_fns *f)
{
	if (f->cap)
		f->ref->job = NULL; /* the capsule frees ref with its last reference */
	Py_XDECREF(f->cancelled);
	Py_XDECREF(f->listdir);
	Py_XDECREF(f->read);
	Py_XDECREF(f->cap);
	memset(f, 0, sizeof(*f));
}
