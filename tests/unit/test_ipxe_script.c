// SPDX-License-Identifier: GPL-2.0
/*
 * The iPXE script renderer: xboot's variables are filled in, iPXE's own
 * ${...} settings and stray "${" pass through, missing values become "",
 * and the size limit holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ipxe_script.h"

static const struct ipxe_vars vars = {
	.mac = "52:54:00:12:34:56",
	.ip = "10.77.1.10",
	.hostname = "node7",
	.profile = "rescue",
	.server = "http://10.77.0.1:8080",
	.server_ip = "10.77.0.1",
	.http_port = "8080",
	.enrol = "cred_ABC-123",
	.agent_port = "4012",
	.ca_url = "http://10.77.0.1:8080/xboot/ca.pem",
};

static void expect(const char *tmpl, const struct ipxe_vars *v,
		   const char *want)
{
	size_t len = 0;
	char *out = ipxe_render(tmpl, v, &len);

	assert_non_null(out);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
	free(out);
}

static void test_all_vars(void **state)
{
	(void)state;
	expect("${mac} ${ip} ${hostname} ${profile} ${server} ${server_ip} ${http_port}",
	       &vars,
	       "52:54:00:12:34:56 10.77.1.10 node7 rescue http://10.77.0.1:8080 10.77.0.1 8080");
	expect("${enrol} ${agent_port} ${ca_url}", &vars,
	       "cred_ABC-123 4012 http://10.77.0.1:8080/xboot/ca.pem");
}

static void test_ipxe_own_vars_kept(void **state)
{
	(void)state;
	expect("chain ${server}/x?arch=${buildarch}&m=${net0/mac:hexhyp}",
	       &vars, "chain http://10.77.0.1:8080/x?arch=${buildarch}&m=${net0/mac:hexhyp}");
	expect("${MAC} ${ mac} ${mac", &vars, "${MAC} ${ mac} ${mac");
	expect("$$ ${} ${${mac}} $", &vars, "$$ ${} ${52:54:00:12:34:56} $");
}

static void test_missing_values(void **state)
{
	struct ipxe_vars v = { .mac = "m" };

	(void)state;
	expect("[${hostname}][${mac}][${ip}]", &v, "[][m][]");
	expect("[${enrol}][${agent_port}][${ca_url}]", &v, "[][][]");
	expect("", &v, "");
}

static void test_default_template(void **state)
{
	const char *p;
	size_t len;
	char *out = ipxe_render(ipxe_default_template, &vars, &len);

	(void)state;
	assert_non_null(out);
	assert_int_equal(strncmp(out, "#!ipxe\n", 7), 0);
	assert_non_null(strstr(out, "kernel http://10.77.0.1:8080/boot/rescue/vmlinuz"));
	assert_non_null(strstr(out, "initrd http://10.77.0.1:8080/boot/rescue/initrd.img"));
	assert_non_null(strstr(out, "52:54:00:12:34:56"));
	assert_non_null(strstr(out, " xboot.enrol=cred_ABC-123 "));
	assert_non_null(strstr(out, " xboot.agent_port=4012 "));
	assert_non_null(strstr(out, " xboot.ca=http://10.77.0.1:8080/xboot/ca.pem "
				   "xboot.ip=${xboot_ip} xboot.gw=${xboot_gw}\n"));
	/* only iPXE's own settings are left for iPXE to expand */
	for (p = strstr(out, "${"); p; p = strstr(p + 2, "${"))
		assert_true(!strncmp(p, "${xboot_ip}", 11) ||
			    !strncmp(p, "${xboot_gw}", 11));
	free(out);
	assert_true(ipxe_uses(ipxe_default_template, "enrol"));
}

/* Without an agent service the keys are there, empty. */
static void test_default_template_no_agent(void **state)
{
	struct ipxe_vars v = vars;
	size_t len;
	char *out;

	(void)state;
	v.enrol = v.agent_port = v.ca_url = "";
	out = ipxe_render(ipxe_default_template, &v, &len);
	assert_non_null(out);
	assert_non_null(strstr(out, " xboot.enrol= xboot.agent_port= xboot.ca= "
				   "xboot.ip=${xboot_ip} xboot.gw=${xboot_gw}\n"));
	free(out);
}

static void test_uses(void **state)
{
	(void)state;
	assert_true(ipxe_uses("kernel x enrol=${enrol}", "enrol"));
	assert_true(ipxe_uses("${mac}${enrol}", "enrol"));
	assert_false(ipxe_uses("kernel x enrol=$enrol", "enrol"));
	assert_false(ipxe_uses("${enrolment} ${ enrol} ${enrol", "enrol"));
	assert_false(ipxe_uses("", "enrol"));
}

static void test_size_limit(void **state)
{
	size_t n = IPXE_SCRIPT_MAX / 8, len;
	char *tmpl = malloc(n * 6 + 1), *out;
	size_t i;

	(void)state;
	assert_non_null(tmpl);
	for (i = 0; i < n; i++)
		memcpy(tmpl + i * 6, "${mac}", 6);
	tmpl[n * 6] = '\0';
	out = ipxe_render(tmpl, &vars, &len); /* 17 bytes each: too big */
	assert_null(out);
	free(tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_vars),
		cmocka_unit_test(test_ipxe_own_vars_kept),
		cmocka_unit_test(test_missing_values),
		cmocka_unit_test(test_default_template),
		cmocka_unit_test(test_default_template_no_agent),
		cmocka_unit_test(test_uses),
		cmocka_unit_test(test_size_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
